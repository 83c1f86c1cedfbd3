"""Saying a thing about a file once.  The spool is scanned every second and the clips
janitor every minute: a file that stays in trouble must not fill the log with the same line."""

from __future__ import annotations

import logging
import os
from collections.abc import Collection


class SaidOnce:
    """What was last logged about each file (the name ``""``: the directory itself)."""

    def __init__(self, logger: logging.Logger) -> None:
        self._log = logger
        self._said: dict[str, str] = {}

    def say(self, name: str, level: str, message: str) -> None:
        """Log ``message`` about ``name`` at ``level``, unless it was the last thing said of it."""
        if self._said.get(name) == message:
            return
        self._said[name] = message
        getattr(self._log, level)(message)

    def forget(self, name: str) -> None:
        """``name`` was dealt with: its next trouble is said again."""
        self._said.pop(name, None)

    def gone(self, present: Collection[str]) -> list[str]:
        """Forget the files not in ``present`` any more; returns their names."""
        names = [name for name in self._said if name and name not in present]
        for name in names:
            del self._said[name]
        return names

    def listing(self, directory: str | os.PathLike[str], what: str) -> list[os.DirEntry[str]] | None:
        """The entries of ``directory`` by name; None when it is missing or cannot be read
        (said once, ``what`` naming it: "recording spool", "clip directory")."""
        try:
            return sorted(os.scandir(directory), key=lambda entry: entry.name)
        except FileNotFoundError:
            self.say("", "debug", f"{what} {directory} does not exist (yet)")
        except OSError as exc:
            self.say("", "error", f"{what} {directory} cannot be read: {exc}")
        return None
