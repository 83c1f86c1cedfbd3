"""All menus of a deployment, loaded and checked together with the configuration."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from ivr.config.convert import Problem
from ivr.config.errors import ConfigError
from ivr.config.schema import Config
from ivr.menu.load import PromptBook, load_menu
from ivr.menu.model import Menu

SCENARIO_SUFFIX = ".scenarios.yaml"


def _expanded(paths: Iterable[str], pattern: str) -> list[Path]:
    """The files named, a directory standing for its files matching ``pattern`` (not below)."""
    out: list[Path] = []
    for path in map(Path, paths):
        out.extend(sorted(path.glob(pattern)) if path.is_dir() else [path])
    return out


def menu_files(config: Config, paths: Iterable[str] = ()) -> list[Path]:
    """The menu files named (a directory: every ``*.yaml`` menu in it), or every menu in
    the menus directory."""
    named = list(paths)
    chosen = _expanded(named, "*.yaml") if named else sorted(Path(config.path(config.menus.dir)).glob("*.yaml"))
    return [p for p in chosen if not p.name.endswith(SCENARIO_SUFFIX)]


def scenario_files(config: Config, paths: Iterable[str] = ()) -> list[Path]:
    """The scenario files named, or those beside the menus named (a directory: every
    ``*.scenarios.yaml`` and every menu's in it), or every one in the menus directory."""
    named = list(paths)
    chosen = _expanded(named, "*.yaml")
    if not named:
        return sorted(Path(config.path(config.menus.dir)).glob(f"*{SCENARIO_SUFFIX}"))
    out: list[Path] = []
    for path in chosen:
        if path.name.endswith(SCENARIO_SUFFIX):
            out.append(path)
        else:
            sibling = path.with_name(path.name.removesuffix(".yaml") + SCENARIO_SUFFIX)
            if sibling.exists():
                out.append(sibling)
    return list(dict.fromkeys(out))


def tested_menu_files(config: Config, paths: Iterable[str]) -> list[Path]:
    """The menu files ``ivr test PATHS`` rehearses instead of the configured ones: those
    named, and the menu beside each scenario file named (``x.scenarios.yaml``: ``x.yaml``)."""
    named = list(paths)
    if not named:
        return []
    out = menu_files(config, named)
    for path in _expanded(named, "*.yaml"):
        if path.name.endswith(SCENARIO_SUFFIX):
            menu = path.with_name(path.name.removesuffix(SCENARIO_SUFFIX) + ".yaml")
            if menu.exists():
                out.append(menu)
    return list(dict.fromkeys(out))


def load_menus(config: Config, prompts: PromptBook | None, paths: Iterable[str] = ()) -> dict[str, Menu]:
    """Load every menu; raise :class:`ConfigError` with the problems of all of them."""
    menus: dict[str, Menu] = {}
    problems: list[Problem] = []
    named = list(paths)
    files = menu_files(config, named)
    if named and not files:
        problems.append(Problem(" ".join(named), 1, "no menu (*.yaml) found there"))
    for path in files:
        try:
            menu = load_menu(path, queues=config.queues, prompts=prompts, calendar=config.calendar)
        except ConfigError as exc:
            problems.extend(exc.problems)
            continue
        if menu.name in menus:
            problems.append(Problem(str(path), 1, f"menu '{menu.name}' is defined twice"))
        menus[menu.name] = menu
    entry = config.menus.entry
    if not named and entry not in menus and not problems:
        problems.append(Problem(config.path("config.yaml"), 1, f"entry menu '{entry}' not found"))
    if problems:
        raise ConfigError(problems)
    return menus
