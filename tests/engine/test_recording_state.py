"""Recording is decided once, by the flow engine: consent and a key, or nothing.

The state travels in the call context, so the routing assignment (the operator's
screen-pop) says whether the conversation is recorded; the Connect agrees with it.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from ivr.call import CallRunner
from ivr.config import Config, Secrets
from ivr.engine import Engine, build_engine
from ivr.flow import actions as a
from ivr.flow import events as e
from ivr.flow.context import CallContext, Consent, Recording, recording_for
from tests.embedded import embedded_redis

T0 = 1_795_500_000.0  # a Monday morning in Moscow: topic queues open


def test_the_rule() -> None:
    yes, no = Consent(True, T0, "key", "1"), Consent(False, T0, "voice", "нет")
    assert recording_for(None, can_record=True) == Recording("no_consent")
    assert recording_for(no, can_record=True) == Recording("no_consent")
    assert recording_for(yes, can_record=True) == Recording("recording")
    # No key: nothing is recorded whatever the answer (and the question is not asked).
    assert recording_for(None, can_record=False) == Recording("no_key")
    assert recording_for(no, can_record=False) == Recording("no_key")
    assert recording_for(yes, can_record=False) == Recording("no_key")
    # No recorder on the line (the terminal softphone): asked as anywhere, never "recording".
    assert recording_for(yes, can_record=True, recorder=False) == Recording("no_recorder")
    assert recording_for(no, can_record=True, recorder=False) == Recording("no_consent")
    assert recording_for(yes, can_record=False, recorder=False) == Recording("no_key")


def test_the_context_round_trips_with_and_without_the_field() -> None:
    ctx = CallContext("c", "+79990000001", "88005553535", T0, recording=Recording("no_key"))
    assert CallContext.from_json(ctx.to_json()) == ctx
    assert ctx.to_dict()["recording"] == {"state": "no_key"}
    old = ctx.to_dict()
    del old["recording"]  # a context stored by an engine before this field
    assert CallContext.from_dict(old).recording is None


@pytest.fixture()
def engine(tmp_path: Path, config: Config) -> Engine:
    server = embedded_redis(str(tmp_path / "r.db"))
    moved = dataclasses.replace(config, recordings=dataclasses.replace(config.recordings, dir=str(tmp_path / "rec")))
    return build_engine(moved, Secrets(), redis=server, clock=lambda: T0)


def walk(engine: Engine, *, consent_key: str | None, can_record: bool,
         recorder: bool = True) -> tuple[CallRunner, a.Connect, dict[str, object]]:
    runner = CallRunner(menu=engine.menus.get("hotline"), services=engine.services(), clock=engine.clock)
    runner.start(e.CallStarted("call-7", "+79990000001", "88005553535", T0,
                               appeal=runner.services.allocate_appeal(), recording=can_record,
                               recorder=recorder))
    runner.handle(e.DigitsEntered("1", T0 + 1))
    runner.handle(e.Recorded("clip", T0 + 2))
    runner.handle(e.DigitsEntered("000082246517#", T0 + 3))
    runner.handle(e.DigitsEntered("1", T0 + 4))  # readback confirmed
    asked = runner.handle(e.DigitsEntered("4", T0 + 5))  # payments
    consent_asked = [x for x in asked if isinstance(x, a.CollectDigits) and getattr(x.prompts[0], "prompt", None) == "consent.ask_keys"]
    assert bool(consent_asked) is can_record, asked  # no key: not asked, nor told it is recorded
    if consent_key is not None:
        runner.handle(e.DigitsEntered(consent_key, T0 + 6))  # 1: yes, 2: no
    engine.router.set_operator_state("op102", "available")
    media = runner.handle(e.NoInput(T0 + 8))
    connect = media[-1]
    assert isinstance(connect, a.Connect)
    assignment = engine.router.status("call-7").assignment
    assert assignment is not None
    return runner, connect, dict(assignment.context)


@pytest.mark.parametrize(("key", "can_record", "recorder", "state"), [
    ("1", True, True, "recording"), ("2", True, True, "no_consent"), (None, False, True, "no_key"),
    ("1", True, False, "no_recorder"), ("2", True, False, "no_consent"),
])
def test_connect_and_screen_pop_agree(engine: Engine, key: str | None, can_record: bool, recorder: bool,
                                      state: str) -> None:
    runner, connect, screen = walk(engine, consent_key=key, can_record=can_record, recorder=recorder)
    assert connect.record is (state == "recording")
    assert screen["recording"] == {"state": state}
    assert runner.state is not None and runner.state.context.recording == Recording(state)  # type: ignore[arg-type]
