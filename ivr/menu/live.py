"""The menus a running engine serves, reloaded without a restart.

Where a menu comes from: its published live version in Redis when it has one
(:mod:`ivr.menu.versions`, written by the supervisors' console), else its file.  A
reload is cheap when nothing changed: the files' fingerprint plus one ``GET`` of the
publish counter.  A reload loads and checks every menu together; if anything is
wrong, the running versions stay and the problems are kept for ``/readyz`` and the
logs.  A call holds the :class:`~ivr.menu.model.Menu` it started with, so a call in
progress finishes on the version it began with (:meth:`LiveMenus.version` finds a
published version by number, for front ends that resume a call by name).
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from ivr.config.convert import Problem
from ivr.config.errors import ConfigError
from ivr.config.schema import Config
from ivr.menu.load import PromptBook, parse_menu
from ivr.menu.model import Menu
from ivr.menu.registry import load_menus, menu_files
from ivr.menu.versions import MenuVersion, MenuVersions

log = logging.getLogger(__name__)
KEEP_PARSED = 32  # published versions kept parsed for calls that resume by number


@dataclass(frozen=True)
class Reload:
    changed: bool
    problems: tuple[Problem, ...] = ()


class LiveMenus:
    def __init__(
        self,
        *,
        config: Config,
        prompts: Callable[[], PromptBook | None],
        versions: MenuVersions | None = None,
    ) -> None:
        self.config = config
        self.prompts = prompts
        self.versions = versions
        self._lock = threading.Lock()
        self._menus: Mapping[str, Menu] = {}
        self._files: Mapping[str, str] = {}
        self._parsed: dict[tuple[str, int], Menu] = {}
        self._fingerprint = ""
        self.problems: tuple[Problem, ...] = ()

    def _current_fingerprint(self) -> str:
        digest = hashlib.sha256()
        prompt_dir = Path(self.config.path(self.config.prompts.dir))
        for path in [*menu_files(self.config), *sorted(prompt_dir.glob("*.yaml"))]:
            digest.update(str(path).encode())
            try:
                digest.update(path.read_bytes())
            except OSError:
                digest.update(b"<unreadable>")
        if self.versions is not None:
            digest.update(f"published:{self.versions.revision()}".encode())
        return digest.hexdigest()

    def _published(self, version: MenuVersion, prompts: PromptBook | None) -> Menu:
        file = self._files.get(version.menu, version.menu)
        menu = parse_menu(version.text, source=f"{file}@v{version.version}", queues=self.config.queues,
                          prompts=prompts, calendar=self.config.calendar)
        if menu.name != version.menu:
            raise ConfigError([Problem(f"{file}@v{version.version}", 1,
                                       f"published as '{version.menu}' but names menu '{menu.name}'")])
        return dataclasses.replace(menu, version=version.version)

    def _build(self, *, strict_published: bool) -> tuple[dict[str, Menu], tuple[Problem, ...]]:
        prompts = self.prompts()
        menus = load_menus(self.config, prompts)  # files: raises ConfigError
        with self._lock:
            self._files = {name: menu.source for name, menu in menus.items()}
        problems: list[Problem] = []
        if self.versions is not None:
            for name, version in self.versions.all_live().items():
                try:
                    menus[name] = self._published(version, prompts)
                except ConfigError as exc:
                    problems.extend(exc.problems)
        if problems and strict_published:
            raise ConfigError(problems)
        return menus, tuple(problems)

    def load(self) -> None:
        """First load at start-up: a broken file stops the engine (raises ConfigError).

        A published version that no longer loads (a queue or prompt it names was
        removed) is reported in :attr:`problems` and its file version serves instead.
        """
        fingerprint = self._current_fingerprint()
        menus, problems = self._build(strict_published=False)
        for problem in problems:
            log.error("published menu refused, the file version serves: %s", problem)
        with self._lock:
            self._menus, self._fingerprint, self.problems = menus, fingerprint, problems

    def reload(self) -> Reload:
        """Pick up edited files and published versions; a bad one is refused, the running version stays."""
        fingerprint = self._current_fingerprint()
        if fingerprint == self._fingerprint:
            return Reload(False, self.problems)
        try:
            menus, _ = self._build(strict_published=True)
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

    def snapshot(self) -> dict[str, Menu]:
        with self._lock:
            return dict(self._menus)

    def file_of(self, name: str) -> str:
        """The file a menu was loaded from (its published versions are checked as this file)."""
        with self._lock:
            return self._files[name]

    def version(self, name: str, number: int) -> Menu | None:
        """The menu ``name`` as it was at ``number``: the running one, or a published version."""
        with self._lock:
            running = self._menus.get(name)
            cached = self._parsed.get((name, number))
        if running is not None and running.version == number:
            return running
        if cached is not None or self.versions is None:
            return cached
        stored = self.versions.get(name, number)
        if stored is None:
            return None
        try:
            menu = self._published(stored, self.prompts())
        except ConfigError:
            return None
        with self._lock:
            if len(self._parsed) >= KEEP_PARSED:
                self._parsed.pop(next(iter(self._parsed)))
            self._parsed[(name, number)] = menu
        return menu

    def for_number(self, dialled: str) -> Menu:
        name = self.config.menus.entry
        name = self.config.menus.numbers.get(dialled, name)
        return self.get(name)

    @property
    def loaded(self) -> bool:
        return bool(self._menus)
