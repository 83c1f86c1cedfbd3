"""Published menu versions: atomic publish with author and number, roll-back, and every
engine process picking the live version up without a restart (real Redis, and a Cluster)."""

from __future__ import annotations

import dataclasses
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ivr.config import Config
from ivr.flow import events as e
from ivr.flow import start
from ivr.menu.live import LiveMenus
from ivr.menu.versions import MenuVersionError, MenuVersions
from ivr.prompts.catalog import PromptCatalog
from routing.redis_conn import connect
from tests.redis_servers import RedisClusterNodes, RedisServer


@pytest.fixture(scope="module")
def server() -> Iterator[RedisServer]:
    s = RedisServer().start()
    yield s
    s.close()


@pytest.fixture(scope="module")
def cluster() -> Iterator[RedisClusterNodes]:
    c = RedisClusterNodes().start()
    yield c
    c.close()


@pytest.fixture(params=["single", pytest.param("cluster", marks=pytest.mark.cluster)])
def redis(request: pytest.FixtureRequest, tmp_path: Path) -> Any:
    url = request.getfixturevalue("server" if request.param == "single" else "cluster").url
    return connect(url, embedded_dir=str(tmp_path))


@pytest.fixture()
def prefix() -> str:
    return "t" + uuid.uuid4().hex[:10]


@pytest.fixture()
def root(tmp_path: Path, repo_root: Path) -> Path:
    (tmp_path / "dialplans").mkdir()
    shutil.copy(repo_root / "dialplans" / "hotline.yaml", tmp_path / "dialplans" / "hotline.yaml")
    shutil.copytree(repo_root / "prompts", tmp_path / "prompts")
    return tmp_path


def live_menus(config: Config, root: Path, catalog: PromptCatalog, redis: Any, prefix: str) -> LiveMenus:
    moved = dataclasses.replace(config, root=str(root))
    menus = LiveMenus(config=moved, prompts=lambda: catalog, versions=MenuVersions(redis=redis, prefix=prefix))
    menus.load()
    return menus


def test_publish_numbers_versions_keeps_the_file_and_refuses_a_stale_base(redis: Any, prefix: str) -> None:
    store = MenuVersions(redis=redis, prefix=prefix, clock=lambda: 1000.0)
    first = store.publish("hotline", "menu: hotline # v2", author="anna", base=None,
                          replaces=(1, "menu: hotline # the file"))
    assert first == 2
    assert store.get("hotline", 1).text == "menu: hotline # the file"  # type: ignore[union-attr]
    assert store.live("hotline").author == "anna"  # type: ignore[union-attr]
    with pytest.raises(MenuVersionError) as stale:
        store.publish("hotline", "menu: hotline # lost", author="boris", base=None)
    assert stale.value.live == 2
    assert store.publish("hotline", "menu: hotline # v3", author="boris", base=2) == 3
    assert [v.version for v in store.history("hotline")] == [3, 2, 1]
    assert store.rollback("hotline", 1, author="anna") == 1
    assert store.live_version("hotline") == 1
    with pytest.raises(MenuVersionError):
        store.rollback("hotline", 9, author="anna")
    assert [(x["action"], x["version"], x["from"]) for x in store.log("hotline")] == [
        ("publish", 2, ""), ("publish", 3, "2"), ("rollback", 1, "3")]
    assert store.publish("hotline", "menu: hotline # v4", author="anna", base=1) == 4  # numbers never reused
    assert store.names() == ["hotline"]


def test_every_process_picks_up_a_publish_and_calls_keep_their_version(
    config: Config, root: Path, catalog: PromptCatalog, redis: Any, prefix: str
) -> None:
    one = live_menus(config, root, catalog, redis, prefix)
    two = live_menus(config, root, catalog, redis, prefix)  # another engine process
    old = one.get("hotline")
    state, _ = start(old, e.CallStarted("c", "+79990000001", "88005553535", 0.0))
    text = (root / "dialplans" / "hotline.yaml").read_text()
    edited = text.replace("topic: payments,", "topic: payments.online,")
    version = one.versions.publish("hotline", edited, author="anna", base=None,  # type: ignore[union-attr]
                                   replaces=(old.version, text))
    assert not two.reload().problems
    for process in (one, two):
        process.reload()
        menu = process.get("hotline")
        assert menu.version == version == 2
        assert menu.node("topic_payments").topic == "payments.online"  # type: ignore[attr-defined]
    assert state.context.menu_version == 1 and old.node("topic_payments").topic == "payments"  # type: ignore[attr-defined]
    assert one.version("hotline", 1) is not None and one.version("hotline", 1).node("topic_payments").topic == "payments"  # type: ignore[union-attr, attr-defined]
    assert not one.reload().changed  # nothing new: one GET, no reload


def test_a_published_version_that_no_longer_loads_keeps_the_running_one(
    config: Config, root: Path, catalog: PromptCatalog, redis: Any, prefix: str
) -> None:
    menus = live_menus(config, root, catalog, redis, prefix)
    running = menus.get("hotline")
    text = (root / "dialplans" / "hotline.yaml").read_text()
    menus.versions.publish("hotline", text.replace("next: signin_menu", "next: nowhere"),  # type: ignore[union-attr]
                           author="anna", base=None, replaces=(1, text))
    result = menus.reload()
    assert not result.changed and any("nowhere" in str(p) and "@v2" in str(p) for p in result.problems)
    assert menus.get("hotline") is running
    fresh = live_menus(config, root, catalog, redis, prefix)  # a process starting now
    assert fresh.get("hotline").version == 1 and fresh.problems  # the file serves, not ready
    menus.versions.rollback("hotline", 1, author="anna")  # type: ignore[union-attr]
    assert menus.reload().changed and menus.get("hotline").version == 1 and not menus.problems


def test_which_source_serves_and_a_file_edit_under_a_published_version(
    config: Config, root: Path, catalog: PromptCatalog, redis: Any, prefix: str, caplog: Any
) -> None:
    import logging

    menus = live_menus(config, root, catalog, redis, prefix)
    path = root / "dialplans" / "hotline.yaml"
    text = path.read_text()
    assert menus.sources()["hotline"].source == "file" and menus.refused is None
    path.write_text(text.replace("next: signin_menu", "next: nowhere"))
    menus.reload()
    assert menus.refused is not None and menus.refusals == 1
    assert any("nowhere" in p for p in menus.refused.to_dict()["problems"])  # type: ignore[union-attr]
    path.write_text(text)
    menus.reload()
    assert menus.refused is None
    menus.versions.publish("hotline", text.replace("topic: payments,", "topic: payments.online,"),  # type: ignore[union-attr]
                           author="anna", base=None, replaces=(1, text))
    menus.reload()
    served = menus.sources()["hotline"]
    assert (served.source, served.version, served.author) == ("published", 2, "anna")
    with caplog.at_level(logging.INFO, logger="ivr.menu.live"):
        path.write_text(text.replace("version: 1", "version: 3"))
        menus.reload()
    said = [r.getMessage() for r in caplog.records if r.name == "ivr.menu.live"]
    assert any("changed, but menu 'hotline' serves published v2" in m and "not used" in m for m in said), said
    assert not any(m.startswith("menus reloaded") for m in said), said  # nothing new serves
    assert menus.get("hotline").version == 2


def test_back_to_the_file_and_a_publish_after_it_keeps_every_text_under_a_new_number(
        redis: Any, prefix: str) -> None:
    store = MenuVersions(redis=redis, prefix=prefix, clock=lambda: 1000.0)
    store.publish("hotline", "menu: hotline # v2", author="anna", base=None, replaces=(1, "# file 1"))
    revision = store.revision()
    with pytest.raises(MenuVersionError):  # another change came first
        store.return_to_file("hotline", author="boris", base=1)
    assert store.return_to_file("hotline", author="boris", base=2) == 2
    assert store.live_version("hotline") is None and store.all_live() == {}
    assert store.revision() > revision  # every process reloads: the file serves
    with pytest.raises(MenuVersionError, match="from its file already"):
        store.return_to_file("hotline", author="boris", base=2)
    # The file moved on meanwhile (its own "version: 1" again); a publish over it keeps the
    # file's text as the next number and gives out no number twice.
    assert store.publish("hotline", "menu: hotline # v4", author="anna", base=None,
                         replaces=(1, "# file 1, edited")) == 4
    assert store.get("hotline", 1).text == "# file 1"  # type: ignore[union-attr]
    assert store.get("hotline", 3).text == "# file 1, edited"  # type: ignore[union-attr]
    assert store.get("hotline", 3).author == "file"  # type: ignore[union-attr]
    # The file under a number still free keeps it; the same text again is not stored twice.
    store.return_to_file("hotline", author="boris", base=4)
    assert store.publish("hotline", "# v8", author="anna", base=None, replaces=(7, "# file 7")) == 8
    assert store.get("hotline", 7).text == "# file 7" and store.last_number("hotline") == 8  # type: ignore[union-attr]
    store.return_to_file("hotline", author="boris", base=8)
    assert store.publish("hotline", "# v9", author="anna", base=None, replaces=(7, "# file 7")) == 9
    assert [(x["action"], x.get("version"), x["author"]) for x in store.log("hotline")][:3] == [
        ("publish", 2, "anna"), ("file", None, "boris"), ("publish", 4, "anna")]
    assert store.rollback("hotline", 2, author="anna") == 2  # a version from before the return


def test_a_version_keeps_the_scenarios_its_publisher_saw_fail(redis: Any, prefix: str) -> None:
    store = MenuVersions(redis=redis, prefix=prefix, clock=lambda: 1000.0)
    store.publish("hotline", "# v2", author="anna", base=None, replaces=(1, "# file"),
                  failed=["payments by key", "silence"])
    store.publish("hotline", "# v3", author="anna", base=2)
    assert store.get("hotline", 2).failed == ("payments by key", "silence")  # type: ignore[union-attr]
    assert store.get("hotline", 3).failed == ()  # type: ignore[union-attr]
    assert [x.get("failed") for x in store.log("hotline")] == [["payments by key", "silence"], None]


def test_a_file_serving_another_text_under_an_old_number_is_told_to_raise_it(
    config: Config, root: Path, catalog: PromptCatalog, redis: Any, prefix: str, caplog: Any
) -> None:
    import logging

    menus = live_menus(config, root, catalog, redis, prefix)
    path = root / "dialplans" / "hotline.yaml"
    text = path.read_text()

    def warned() -> list[str]:
        said = [r.getMessage() for r in caplog.records if "raise 'version:'" in r.getMessage()]
        caplog.clear()
        return said

    with caplog.at_level(logging.WARNING, logger="ivr.menu.live"):
        path.write_text(text.replace("topic: payments,", "topic: payments.a,"))
        assert menus.reload().changed
        assert [(f"{path} serves another text as version 1: the funnel and the call log count it with the "
                 "earlier text of v1; raise 'version:' in the file")] == warned()
        path.write_text(text.replace("version: 1", "version: 2"))
        assert menus.reload().changed and warned() == []
        # Published v3 over it, then back to the file, whose text is no longer stored v2's.
        menus.versions.publish("hotline", text.replace("version: 1", "version: 2"),  # type: ignore[union-attr]
                               author="anna", base=None, replaces=(2, path.read_text()))
        menus.reload()
        path.write_text(text.replace("version: 1", "version: 2").replace("topic: payments,", "topic: payments.b,"))
        menus.reload()  # the file's edit is not used meanwhile
        menus.versions.return_to_file("hotline", author="anna", base=3)  # type: ignore[union-attr]
        assert menus.reload().changed and menus.get("hotline").version == 2
        assert len(warned()) == 1
