"""What a queued caller is told about the wait is true (issue 17, defect 16): the real
routing engine on a real (embedded) Redis, the real menu."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from ivr.call import CallRunner
from ivr.config import Config, Secrets
from ivr.engine import Engine, build_engine
from ivr.flow import actions as a
from ivr.flow import events as e
from tests.embedded import embedded_redis
from tests.engine.test_routed_calls import T0, walk_to_queue


@pytest.fixture()
def engine(tmp_path: Path, config: Config) -> Engine:
    """The engine of a fresh embedded Redis, its clock at ``T0`` (a Monday morning)."""
    moved = dataclasses.replace(config, recordings=dataclasses.replace(config.recordings, dir=str(tmp_path / "rec")))
    return build_engine(moved, Secrets(), redis=embedded_redis(str(tmp_path / "r.db")), clock=lambda: T0)


def played(media: list[a.MediaAction]) -> list[str]:
    return [x.prompt for x in media if isinstance(x, a.Play)]


def test_nobody_on_duty_no_wait_is_promised_and_the_callback_is_offered(engine: Engine) -> None:
    runner = CallRunner(menu=engine.menus.get("hotline"), services=engine.services(), clock=engine.clock)
    media = walk_to_queue(runner, T0)  # payments; every operator offline
    heard = played(media)
    assert "queue.position" in heard
    assert "queue.wait_minutes" not in heard
    assert "queue.no_estimate" in heard
    assert "queue.callback_offer" in heard
    assert isinstance(media[-1], a.HoldMusic)
    assert engine.router.status("call-42").expected_wait is None


def test_an_operator_free_the_call_is_connected_without_a_wait_announced(engine: Engine) -> None:
    engine.router.set_operator_state("op102", "available")  # payments
    runner = CallRunner(menu=engine.menus.get("hotline"), services=engine.services(), clock=engine.clock)
    media = walk_to_queue(runner, T0)
    heard = played(media)
    assert not {"queue.position", "queue.wait_minutes", "queue.no_estimate", "queue.callback_offer"} & set(heard)
    connect = media[-1]
    assert isinstance(connect, a.Connect) and connect.operator == "op102"
    assert runner.state is not None and runner.state.context.outcome == "connected"


def test_operators_on_duty_but_busy_the_wait_is_estimated(engine: Engine) -> None:
    engine.router.set_operator_state("op102", "available")
    first = CallRunner(menu=engine.menus.get("hotline"), services=engine.services(), clock=engine.clock)
    walk_to_queue(first, T0)  # takes op102 (reserved: still staffed)
    second = CallRunner(menu=engine.menus.get("hotline"), services=engine.services(), clock=engine.clock)
    second.start(e.CallStarted("call-43", "+79990000002", "88005553535", T0, appeal=second.services.allocate_appeal()))
    second.handle(e.DigitsEntered("1", T0 + 1))
    second.handle(e.Recorded("clip", T0 + 2))
    second.handle(e.DigitsEntered("#", T0 + 3))
    second.handle(e.DigitsEntered("4", T0 + 5))
    heard = played(second.handle(e.DigitsEntered("1", T0 + 6)))
    assert "queue.wait_minutes" in heard and "queue.no_estimate" not in heard
