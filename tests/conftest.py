"""Shared fixtures: the shipped configuration, prompts and menus."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from ivr.config import Config, load_config
from ivr.menu import Menu
from ivr.menu.registry import load_menus
from ivr.prompts.catalog import PromptCatalog, load_catalog
from tests.embedded import stop_all

ROOT = Path(__file__).resolve().parent.parent


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "asterisk: needs a real Asterisk 22 in a Debian sid chroot (root; network to "
        "Debian's archive on the first run).  IVR_SKIP_ASTERISK=1 deselects these tests.",
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """IVR_SKIP_ASTERISK=1 deselects every test marked ``asterisk`` (integration, journeys)."""
    if os.environ.get("IVR_SKIP_ASTERISK") != "1":
        return
    keep = [item for item in items if item.get_closest_marker("asterisk") is None]
    dropped = [item for item in items if item.get_closest_marker("asterisk") is not None]
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = keep


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    stop_all()  # the embedded redis-servers the tests started


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return ROOT


@pytest.fixture(scope="session")
def config() -> Config:
    return load_config(ROOT / "config.yaml")


@pytest.fixture(scope="session")
def catalog(config: Config) -> PromptCatalog:
    catalog, problems = load_catalog(config.path(config.prompts.dir))
    assert not problems
    return catalog


@pytest.fixture(scope="session")
def hotline(config: Config, catalog: PromptCatalog) -> Menu:
    return load_menus(config, catalog)["hotline"]
