"""The menus a running engine serves, reloaded from disk without a restart.

A reload loads and checks every menu together; if anything is wrong, the
running versions stay and the problems are kept for ``/readyz`` and the logs.
A call holds the :class:`~ivr.menu.model.Menu` it started with, so a call in
progress finishes on the version it began with.
"""

from __future__ import annotations

import hashlib
import logging
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from ivr.config.convert import Problem
from ivr.config.errors import ConfigError
from ivr.config.schema import Config
from ivr.menu.load import PromptBook
from ivr.menu.model import Menu
from ivr.menu.registry import load_menus, menu_files

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Reload:
    changed: bool
    problems: tuple[Problem, ...] = ()


class LiveMenus:
    def __init__(self, *, config: Config, prompts: Callable[[], PromptBook | None]) -> None:
        self.config = config
        self.prompts = prompts
        self._lock = threading.Lock()
        self._menus: Mapping[str, Menu] = {}
        self._fingerprint = ""
        self.problems: tuple[Problem, ...] = ()

    def _files_fingerprint(self) -> str:
        digest = hashlib.sha256()
        prompt_dir = Path(self.config.path(self.config.prompts.dir))
        for path in [*menu_files(self.config), *sorted(prompt_dir.glob("*.yaml"))]:
            digest.update(str(path).encode())
            try:
                digest.update(path.read_bytes())
            except OSError:
                digest.update(b"<unreadable>")
        return digest.hexdigest()

    def load(self) -> None:
        """First load at start-up: any problem stops the engine (raises ConfigError)."""
        fingerprint = self._files_fingerprint()
        menus = load_menus(self.config, self.prompts())
        with self._lock:
            self._menus, self._fingerprint, self.problems = menus, fingerprint, ()

    def reload(self) -> Reload:
        """Pick up edited files; a bad edit is refused and the running version stays."""
        fingerprint = self._files_fingerprint()
        if fingerprint == self._fingerprint:
            return Reload(False, self.problems)
        try:
            menus = load_menus(self.config, self.prompts())
        except ConfigError as exc:
            with self._lock:
                self._fingerprint, self.problems = fingerprint, exc.problems
            for problem in exc.problems:
                log.error("menu reload refused, the running version stays: %s", problem)
            return Reload(False, exc.problems)
        with self._lock:
            self._menus, self._fingerprint, self.problems = menus, fingerprint, ()
        log.info("menus reloaded: %s", ", ".join(f"{m.name} v{m.version}" for m in menus.values()))
        return Reload(True)

    def get(self, name: str) -> Menu:
        with self._lock:
            return self._menus[name]

    def for_number(self, dialled: str) -> Menu:
        name = self.config.menus.numbers.get(dialled, self.config.menus.entry)
        return self.get(name)

    @property
    def loaded(self) -> bool:
        return bool(self._menus)
