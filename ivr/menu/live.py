"""The menus a running engine serves, reloaded without a restart.

Where a menu comes from: its published live version in Redis when it has one
(:mod:`ivr.menu.versions`, written by the supervisors' console), else its file.  A
reload is cheap when nothing changed: the files' fingerprint plus one ``GET`` of the
publish counter.  A reload loads and checks every menu together; if anything is
wrong, the running versions stay (the engine still takes calls: ``/readyz`` stays
ready) and the refusal is kept for ``/healthz``, the metrics, the supervisors' menu
page and the logs (:attr:`LiveMenus.refused`).  Which source serves each menu is told
the same way (:meth:`LiveMenus.sources`): an edit of a file whose menu serves a
published version is said to be ignored, never "reloaded".  A call holds the :class:`~ivr.menu.model.Menu` it started with, so a call in
progress finishes on the version it began with (:meth:`LiveMenus.version` finds a
published version by number, for front ends that resume a call by name).
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from ivr.config.convert import Problem
from ivr.config.errors import ConfigError
from ivr.config.schema import Config
from ivr.menu.load import PromptBook, parse_menu
from ivr.menu.model import Menu
from ivr.menu.registry import load_menus, menu_files
from ivr.menu.versions import MenuVersion, MenuVersions, sha256
from ivr.prompts.catalog import PromptCatalog

log = logging.getLogger(__name__)
KEEP_PARSED = 32  # published versions kept parsed for calls that resume by number


@dataclass(frozen=True)
class Reload:
    changed: bool
    problems: tuple[Problem, ...] = ()


@dataclass(frozen=True)
class MenuSource:
    """Where the running version of a menu comes from."""

    menu: str
    version: int
    source: str  # "file" | "published"
    file: str
    author: str | None = None  # who published it (published only)
    at: float | None = None
    # The text this version was read from (the file's as it was accepted, or the published
    # one): what the console's editor shows as live, whatever the file says since.
    text: str = dataclasses.field(default="", repr=False, compare=False)

    def describe(self) -> str:
        if self.source == "published":
            return (f"{self.menu} v{self.version} (published in the console by {self.author}; "
                    f"edits to {self.file} are not used while a published version is live)")
        return f"{self.menu} v{self.version} (file {self.file})"

    def to_dict(self) -> dict[str, object]:
        return {name: value for name, value in dataclasses.asdict(self).items() if name != "text"}


@dataclass(frozen=True)
class Refusal:
    """The last reload refused: when, and every problem (``file:line: message``)."""

    at: float
    problems: tuple[Problem, ...]

    def to_dict(self) -> dict[str, object]:
        return {"at": self.at, "problems": [str(p) for p in self.problems]}


class LiveMenus:
    def __init__(
        self,
        *,
        config: Config,
        prompts: Callable[[], PromptBook | None],
        versions: MenuVersions | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.config = config
        self.prompts = prompts
        self.versions = versions
        self.clock = clock
        self._lock = threading.Lock()
        self._menus: Mapping[str, Menu] = {}
        self._files: Mapping[str, str] = {}
        self._parsed: dict[tuple[str, int], Menu] = {}
        self._fingerprint = ""
        self._file_digests: dict[str, str] = {}
        self._sources: dict[str, MenuSource] = {}
        self.problems: tuple[Problem, ...] = ()
        self.refused: Refusal | None = None  # the last refused reload, while it is not fixed
        # The prompts the serving menus were accepted with: a refused edit of the prompt files
        # never reaches a caller (the front ends that speak texts read them here).
        self.prompt_book: PromptBook | None = None
        self.refusals = 0  # reloads refused since start (a metric)

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

    def _build(self, *, strict_published: bool) -> tuple[dict[str, Menu], dict[str, MenuSource],
                                                         tuple[Problem, ...], PromptBook | None]:
        prompts = self.prompts()
        menus = load_menus(self.config, prompts)  # files: raises ConfigError
        with self._lock:
            self._files = {name: menu.source for name, menu in menus.items()}
        sources = {name: MenuSource(name, menu.version, "file", menu.source, text=_text_of(menu.source))
                   for name, menu in menus.items()}
        problems: list[Problem] = []
        if self.versions is not None:
            for name, version in self.versions.all_live().items():
                try:
                    menus[name] = self._published(version, prompts)
                except ConfigError as exc:
                    problems.extend(exc.problems)
                    continue
                sources[name] = MenuSource(name, version.version, "published",
                                           self._files.get(name, name), version.author, version.at, version.text)
        if problems and strict_published:
            raise ConfigError(problems)
        return menus, sources, tuple(problems), prompts

    def _digests(self) -> dict[str, str]:
        out = {}
        for path in menu_files(self.config):
            try:
                out[str(path)] = hashlib.sha256(path.read_bytes()).hexdigest()
            except OSError:
                out[str(path)] = "<unreadable>"
        return out

    def _ignored_files(self, before: Mapping[str, str], sources: Mapping[str, MenuSource]) -> list[MenuSource]:
        """Published menus whose file changed since the last load: the edit is not used."""
        now = self._file_digests
        return [src for src in sources.values()
                if src.source == "published" and before.get(src.file) not in (None, now.get(src.file))]

    def load(self) -> None:
        """First load at start-up: a broken file stops the engine (raises ConfigError).

        A published version that no longer loads (a queue or prompt it names was
        removed) is reported in :attr:`problems` and its file version serves instead.
        """
        fingerprint = self._current_fingerprint()
        self._file_digests = self._digests()
        menus, sources, problems, prompts = self._build(strict_published=False)
        for problem in problems:
            log.error("published menu refused, the file version serves: %s", problem)
        with self._lock:
            self._menus, self._fingerprint, self.problems = menus, fingerprint, problems
            self._sources, self.prompt_book = sources, prompts
            self.refused = Refusal(self.clock(), problems) if problems else None
        log.info("menus serving: %s", "; ".join(s.describe() for s in sources.values()))

    def reload(self) -> Reload:
        """Pick up edited files and published versions; a bad one is refused, the running version stays."""
        fingerprint = self._current_fingerprint()
        if fingerprint == self._fingerprint:
            return Reload(False, self.problems)
        before, self._file_digests = self._file_digests, self._digests()
        try:
            menus, sources, _, prompts = self._build(strict_published=True)
        except ConfigError as exc:
            with self._lock:
                self._fingerprint, self.problems = fingerprint, exc.problems
                self.refused = Refusal(self.clock(), exc.problems)
                self.refusals += 1
                serving = "; ".join(s.describe() for s in self._sources.values())
            for problem in exc.problems:
                log.error("menu edit refused, still serving %s: %s", serving, problem)
            return Reload(False, exc.problems)
        with self._lock:
            old, old_sources, old_prompts = dict(self._menus), dict(self._sources), self.prompt_book
            was_refused = self.refused
            self._menus, self._fingerprint, self.problems = menus, fingerprint, ()
            self._sources, self.refused, self.prompt_book = sources, None, prompts
        for ignored in self._ignored_files(before, sources):
            log.warning("%s changed, but menu '%s' serves published v%d from the console: the file "
                        "edit is not used (publish it in the console, or hand the menu back to its file there: "
                        "'Return to the file' in the menu's editor)",
                        ignored.file, ignored.menu, ignored.version)
        if was_refused is not None:
            log.info("menu edit accepted again: the refusal of %s is over", _at(was_refused.at))
        changed = [sources[name] for name, menu in menus.items() if old.get(name) != menu]
        if changed:
            log.info("menus reloaded: %s", "; ".join(s.describe() for s in changed))
        for source in changed:
            self._warn_if_number_reused(source, old.get(source.menu), old_sources.get(source.menu))
        if reworded := _reworded(old_prompts, prompts):
            log.info("prompt texts reloaded: %s (new calls hear them; for Asterisk's sounds: ivr prompts build)",
                     ", ".join(reworded))
        return Reload(True)

    def _warn_if_number_reused(self, source: MenuSource, old: Menu | None, old_source: MenuSource | None) -> None:
        """A file that now serves another text under a version number that already named one
        (its ``version:`` not raised, or a number the console's versions gave another text):
        the funnel and the call log would count both texts as one version."""
        if source.source != "file":
            return
        reused = (old is not None and old.version == source.version
                  and old_source is not None and old_source.source == "file")
        stored = self.versions.get(source.menu, source.version) if self.versions is not None else None
        if stored is not None and not reused and source.text:
            reused = stored.sha256 != sha256(source.text)
        if reused:
            log.warning("%s serves another text as version %d: the funnel and the call log count it with "
                        "the earlier text of v%d; raise 'version:' in the file", source.file, source.version,
                        source.version)

    def get(self, name: str) -> Menu:
        with self._lock:
            return self._menus[name]

    def snapshot(self) -> dict[str, Menu]:
        with self._lock:
            return dict(self._menus)

    def sources(self) -> dict[str, MenuSource]:
        """Where each running menu comes from: its file or a published version."""
        with self._lock:
            return dict(self._sources)

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


def _reworded(before: PromptBook | None, after: PromptBook | None) -> list[str]:
    """``ru/welcome``, ... : the prompts whose text a reload changed, added or removed."""
    if not isinstance(before, PromptCatalog) or not isinstance(after, PromptCatalog):
        return []
    out: list[str] = []
    for lang in sorted(set(before.texts) | set(after.texts)):
        old, new = before.texts.get(lang, {}), after.texts.get(lang, {})
        out.extend(f"{lang}/{pid}" for pid in sorted(set(old) | set(new)) if old.get(pid) != new.get(pid))
    return out


def _text_of(file: str) -> str:
    """A menu file's text as just loaded (read again: an edit in between is the next reload's)."""
    try:
        return Path(file).read_text(encoding="utf-8")
    except OSError:
        return ""


def _at(epoch: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(epoch))
