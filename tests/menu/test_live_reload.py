"""Hot reload: a bad edit is refused and the running version stays; a good one is taken."""

from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path

import pytest

from ivr.config import Config, ConfigError
from ivr.flow import events as e
from ivr.flow import start
from ivr.menu.live import LiveMenus
from ivr.prompts.catalog import PromptCatalog


@pytest.fixture()
def live(tmp_path: Path, config: Config, catalog: PromptCatalog, repo_root: Path) -> LiveMenus:
    (tmp_path / "dialplans").mkdir()
    shutil.copy(repo_root / "dialplans" / "hotline.yaml", tmp_path / "dialplans" / "hotline.yaml")
    moved = dataclasses.replace(config, root=str(tmp_path))
    shutil.copytree(repo_root / "prompts", tmp_path / "prompts")
    menus = LiveMenus(config=moved, prompts=lambda: catalog)
    menus.load()
    return menus


def test_a_broken_edit_keeps_the_running_version(live: LiveMenus, tmp_path: Path) -> None:
    path = tmp_path / "dialplans" / "hotline.yaml"
    before = live.get("hotline")
    path.write_text(path.read_text().replace("next: signin_menu", "next: nowhere"), encoding="utf-8")
    result = live.reload()
    assert not result.changed
    assert any("missing node 'nowhere'" in str(p) and str(path) in str(p) for p in result.problems)
    assert live.get("hotline") is before


def test_a_good_edit_is_picked_up_and_old_calls_keep_their_version(live: LiveMenus, tmp_path: Path) -> None:
    path = tmp_path / "dialplans" / "hotline.yaml"
    old = live.get("hotline")
    state, _ = start(old, e.CallStarted("c", "+79990000001", "88005553535", 0.0))
    path.write_text(path.read_text().replace("version: 1", "version: 2"), encoding="utf-8")
    assert live.reload().changed
    assert live.get("hotline").version == 2
    assert state.context.menu_version == 1 and old.version == 1
    assert not live.reload().changed  # nothing new on disk


def test_the_first_load_refuses_a_broken_menu(tmp_path: Path, config: Config, catalog: PromptCatalog) -> None:
    (tmp_path / "dialplans").mkdir()
    (tmp_path / "dialplans" / "hotline.yaml").write_text("menu: hotline\nstart: x\nnodes: {x: {kind: nope}}\n")
    menus = LiveMenus(config=dataclasses.replace(config, root=str(tmp_path)), prompts=lambda: catalog)
    with pytest.raises(ConfigError):
        menus.load()
    assert not menus.loaded
