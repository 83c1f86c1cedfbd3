"""``config.yaml`` edited while the engine runs: said, since only menus and prompts reload.

Queues, operators, users, routing and the other settings in ``config.yaml`` are read when
``ivr serve`` starts.  A supervisor who edits them on a running engine (a queue renamed, a
queue added for a new menu node) would otherwise see nothing happen, or a menu edit
refused for a queue the file does have.  The engine's tick looks at the file (its size and
time, then its digest) and logs once per edit that a restart applies it.
"""

from __future__ import annotations

import hashlib
import logging
import os

log = logging.getLogger(__name__)


def _digest(path: str) -> str | None:
    try:
        with open(path, "rb") as file:
            return hashlib.sha256(file.read()).hexdigest()
    except OSError:
        return None


class ConfigFileWatch:
    def __init__(self, path: str | None) -> None:
        self.path = path
        self._started = _digest(path) if path else None  # what this engine runs with
        self._seen = self._started
        self._stat = self._stat_of()

    def _stat_of(self) -> tuple[int, int] | None:
        try:
            st = os.stat(self.path) if self.path else None
        except OSError:
            return None
        return (st.st_mtime_ns, st.st_size) if st else None

    def check(self) -> bool:
        """True when the file differs from the one the engine started with (said once per edit)."""
        if not self.path:
            return False
        stat = self._stat_of()
        if stat != self._stat:
            self._stat = stat
            now = _digest(self.path)
            if now != self._seen:
                self._seen = now
                if now == self._started:
                    log.info("%s is again as this engine started with it", self.path)
                else:
                    log.warning("%s changed since this engine started: its queues, operators, users, routing "
                                "and other settings are read at start only; restart ivr serve to apply them "
                                "(menus and prompts reload by themselves)", self.path)
        return self._seen != self._started
