"""Menus in the supervisors' console: view, edit, check, compare, rehearse, publish, roll back.

The check is ``ivr validate``'s: the text is parsed and checked as the menu's own file
(same queues, prompts and calendar), so a problem reads ``<file>:<line>: <message>``
exactly as on the command line.  Publishing stores a new version in Redis
(:class:`~ivr.menu.versions.MenuVersions`), and this process reloads at once; the other
engine processes within their next tick.

Publishing runs the menu's scenarios first, as ``ivr test`` does: a text on which any of
them fails is published only when the supervisor has seen those very failures and
confirms them (``accept_failed``: their names); the version keeps their names.  A menu
published from here can be handed back to its file (``return_to_file``).
"""

from __future__ import annotations

import builtins
import difflib
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from ivr.config.convert import Problem
from ivr.config.errors import ConfigError
from ivr.config.schema import Config
from ivr.menu.live import LiveMenus
from ivr.menu.load import PromptBook, parse_menu
from ivr.menu.model import Menu
from ivr.menu.registry import scenario_files
from ivr.menu.versions import MenuVersionError, MenuVersions, sha256
from ivr.scenarios import run_file

MAX_TEXT = 512 * 1024


class MenuDeskError(Exception):
    def __init__(self, status: int, kind: str, message: str, **data: Any) -> None:
        super().__init__(message)
        self.status = status
        self.kind = kind
        self.message = message
        self.data = data


def problem_row(problem: Problem) -> dict[str, Any]:
    return {"source": problem.source, "line": problem.line, "message": problem.message,
            "text": str(problem)}


class MenuDesk:
    def __init__(self, *, config: Config, menus: LiveMenus, versions: MenuVersions,
                 prompts: Callable[[], PromptBook | None]) -> None:
        self.config = config
        self.menus = menus
        self.versions = versions
        self.prompts = prompts

    def _file(self, name: str) -> str:
        try:
            return self.menus.file_of(name)
        except KeyError:
            raise MenuDeskError(404, "unknown_menu", f"Нет меню «{name}»") from None

    def live_text(self, name: str) -> tuple[str, int, str]:
        """(text, version, source) of what serves calls now: the published version, or the
        file as the engine accepted it (an edit of the file it refused is not live)."""
        self._file(name)
        source = self.menus.sources().get(name)
        if source is None or not source.text:
            raise MenuDeskError(404, "unknown_menu", f"Нет меню «{name}»")
        return source.text, source.version, source.source

    def _file_differs(self, name: str, live: str, source: str) -> bool:
        """The file on disk is not the text that serves (an edit the engine refused, or not
        taken yet), while the file is what serves."""
        if source != "file":
            return False
        try:
            return Path(self._file(name)).read_text(encoding="utf-8") != live
        except OSError:
            return True

    def list(self) -> builtins.list[dict[str, Any]]:
        """Every running menu: the version that serves calls and where it comes from."""
        rows = []
        sources = self.menus.sources()
        for name, menu in sorted(self.menus.snapshot().items()):
            source = sources.get(name)
            rows.append({"name": name, "file": self._shown(self._file(name)), "version": menu.version,
                         "nodes": len(menu.nodes), "source": source.source if source else "file",
                         "author": source.author if source else None,
                         "at": source.at if source else None})
        return rows

    def _shown(self, file: str) -> str:
        """A menu file as the supervisor knows it: relative to the configuration's directory."""
        try:
            return str(Path(file).resolve().relative_to(Path(self.config.path(".")).resolve()))
        except ValueError:
            return file

    def open(self, name: str) -> dict[str, Any]:
        text, version, source = self.live_text(name)
        live = self.versions.live_version(name)
        return {
            "name": name, "file": self._shown(self._file(name)), "text": text, "version": version,
            "source": source, "base": live, "file_differs": self._file_differs(name, text, source),
            "history": [{"version": v.version, "author": v.author, "at": v.at, "comment": v.comment,
                         "failed": list(v.failed), "from_file": v.author == "file",
                         "live": v.version == live} for v in self.versions.history(name)],
            "log": self.versions.log(name)[-50:],
            "problems": [problem_row(p) for p in self.menus.problems],
        }

    def version_text(self, name: str, version: int) -> dict[str, Any]:
        self._file(name)
        stored = self.versions.get(name, version)
        if stored is None:
            raise MenuDeskError(404, "unknown_version", f"У меню «{name}» нет версии {version}")
        return {"name": name, "version": version, "text": stored.text, "author": stored.author,
                "at": stored.at, "comment": stored.comment}

    # -- checking ----------------------------------------------------------------------
    def check(self, name: str, text: str) -> Menu:
        """The edited menu, checked as its file; raises ConfigError with every problem."""
        if len(text) > MAX_TEXT:
            raise MenuDeskError(413, "too_large", "Меню больше 512 КБ")
        file = self._file(name)
        menu = parse_menu(text, source=file, queues=self.config.queues, prompts=self.prompts(),
                          calendar=self.config.calendar)
        if menu.name != name:
            raise ConfigError([Problem(file, 1, f"this is menu '{name}'; the text names menu '{menu.name}' "
                                                "(a menu is renamed in its file, not here)")])
        return menu

    def validate(self, name: str, text: str) -> builtins.list[dict[str, Any]]:
        try:
            self.check(name, text)
        except ConfigError as exc:
            return [problem_row(p) for p in exc.problems]
        return []

    def diff(self, name: str, text: str) -> str:
        live, version, source = self.live_text(name)
        return "".join(difflib.unified_diff(
            live.splitlines(keepends=True), text.splitlines(keepends=True),
            fromfile=f"{name} v{version} (live, {source})", tofile=f"{name} (edited)"))

    def scenarios(self, name: str, text: str) -> dict[str, Any]:
        try:
            candidate = self.check(name, text)
        except ConfigError as exc:
            return {"problems": [problem_row(p) for p in exc.problems], "results": []}
        return self._rehearse(name, candidate)

    def _rehearse(self, name: str, candidate: Menu) -> dict[str, Any]:
        files = scenario_files(self.config, [self._file(name)])
        menus = {**self.menus.snapshot(), name: candidate}
        results = []
        try:
            for path in files:
                results.extend(run_file(path, menus))
        except ConfigError as exc:
            return {"problems": [problem_row(p) for p in exc.problems], "results": []}
        return {"problems": [], "files": [str(f) for f in files], "results": [
            {"name": r.name, "passed": r.passed, "failures": list(r.failures)} for r in results]}

    # -- publishing --------------------------------------------------------------------
    def publish(self, name: str, text: str, *, author: str, base: int | None, comment: str = "",
                accept_failed: Iterable[str] = ()) -> dict[str, Any]:
        try:
            candidate = self.check(name, text)
        except ConfigError as exc:
            raise MenuDeskError(422, "invalid_menu", "Меню с ошибками не публикуется",
                                problems=[problem_row(p) for p in exc.problems]) from None
        rehearsal = self._rehearse(name, candidate)
        failed = _failed_scenarios(rehearsal)
        if failed and sorted(set(accept_failed)) != failed:
            raise MenuDeskError(409, "scenarios_failed", "Сценарии меню не проходят на этом тексте",
                                failed=failed, **rehearsal)
        replaces = None
        if self.versions.live_version(name) is None:  # the file's text as it serves, kept as a version
            served, served_version, _ = self.live_text(name)
            replaces = (served_version, served)
        try:
            version = self.versions.publish(name, text, author=author, base=base,
                                            comment=comment[:200], replaces=replaces, failed=failed)
        except MenuVersionError as exc:
            raise MenuDeskError(409, "stale", str(exc), live=exc.live) from None
        self.menus.reload()
        return {"name": name, "version": version, "serving": self.menus.get(name).version,
                "problems": [problem_row(p) for p in self.menus.problems]}

    def return_to_file(self, name: str, *, author: str, base: int | None) -> dict[str, Any]:
        """The menu's file serves again; refused when it does not load (it would not serve)."""
        file = self._file(name)
        if base is None:
            raise MenuDeskError(409, "file_serves", "Меню и так работает из файла")
        try:
            text = Path(file).read_text(encoding="utf-8")
            menu = self.check(name, text)
        except (ConfigError, OSError) as exc:
            problems = exc.problems if isinstance(exc, ConfigError) else [Problem(file, 1, str(exc))]
            raise MenuDeskError(422, "invalid_file", "Файл меню с ошибками: он не может обслуживать звонки",
                                problems=[problem_row(p) for p in problems]) from None
        # Calls are counted by version number (funnel, call log): the file may not serve under
        # a number the console's versions gave another text.
        last, stored = self.versions.last_number(name), self.versions.get(name, menu.version)
        if menu.version <= last and (stored is None or stored.sha256 != sha256(text)):
            raise MenuDeskError(409, "file_version_taken",
                                f"В файле version: {menu.version}, а номера до v{last} уже заняты версиями из консоли",
                                file_version=menu.version, last=last)
        try:
            left = self.versions.return_to_file(name, author=author, base=base)
        except MenuVersionError as exc:
            raise MenuDeskError(409, "stale", str(exc), live=exc.live) from None
        self.menus.reload()
        return {"name": name, "left": left, "serving": self.menus.get(name).version, "source": "file",
                "problems": [problem_row(p) for p in self.menus.problems]}

    def rollback(self, name: str, version: int, *, author: str, base: int | None) -> dict[str, Any]:
        target = self.version_text(name, version)
        try:
            self.check(name, target["text"])
        except ConfigError as exc:
            raise MenuDeskError(422, "invalid_menu", f"Версия {version} не проходит проверку сейчас",
                                problems=[problem_row(p) for p in exc.problems]) from None
        try:
            live = self.versions.rollback(name, version, author=author, base=base)
        except MenuVersionError as exc:
            status = 409 if exc.live is not None and "changed" in str(exc) else 404
            raise MenuDeskError(status, "rollback_refused", str(exc), live=exc.live) from None
        self.menus.reload()
        return {"name": name, "version": live, "serving": self.menus.get(name).version,
                "problems": [problem_row(p) for p in self.menus.problems]}


def _failed_scenarios(rehearsal: dict[str, Any]) -> list[str]:
    """The names of the scenarios a rehearsal failed (a scenario file that could not be run
    counts as failed, by its file name)."""
    names = {r["name"] for r in rehearsal["results"] if not r["passed"]}
    names.update(p["source"] for p in rehearsal["problems"])
    return sorted(names)
