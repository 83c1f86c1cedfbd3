"""A Twilio call bridged to an operator tells routing when the operator answers and when the
conversation ends (``<Dial action>`` and the operator leg's status callbacks, signed like every
webhook), and an operator who does not answer sends the caller back to the head of the line.
The engine's own app, routing on a real Redis, the real twilio library's TwiML and signatures."""

from __future__ import annotations

import dataclasses
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from ivr.config import Config, Secrets
from ivr.engine import Engine, build_engine
from ivr.web.app import create_app
from tests.embedded import embedded_redis
from tests.twilio.test_engine_app import BASE, PUBLIC, SID, T0, TOKEN, post, walk_to_queue

LEG = "CA" + "ef" * 16  # the operator leg's own CallSid


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> float:
        return self.now


@pytest.fixture()
def clock() -> Clock:
    return Clock()


@pytest.fixture()
def engine(tmp_path: Path, config: Config, clock: Clock) -> Engine:
    operators = {op: dataclasses.replace(spec, endpoint=f"client:{op}") for op, spec in config.operators.items()}
    moved = dataclasses.replace(
        config,
        engine=dataclasses.replace(config.engine, public_url=PUBLIC),
        twilio=dataclasses.replace(config.twilio, account_sid="AC" + "1" * 32, caller_id="+78005553535"),
        recordings=dataclasses.replace(config.recordings, dir=str(tmp_path / "rec")),
        operators=operators,
    )
    return build_engine(moved, Secrets(twilio_auth_token=TOKEN), redis=embedded_redis(str(tmp_path / "r.db")),
                        clock=clock)


def bridged(engine: Engine, client: Any) -> ET.Element:
    """The caller holds; op102 becomes ready; the next hold webhook answers with the <Dial>."""
    wait_url = walk_to_queue(client)
    assert engine.router.status(SID).state == "waiting"
    engine.router.set_operator_state("op102", "available")
    dial = ET.fromstring(post(client, wait_url, BASE).data).find("Dial")
    assert dial is not None
    return dial


def test_the_dial_reports_to_signed_urls(engine: Engine) -> None:
    dial = bridged(engine, create_app(engine).test_client())
    action = urlsplit(dial.attrib["action"])
    assert action.path == "/twilio/dialled" and parse_qs(action.query)["operator"] == ["op102"]
    client = dial.find("Client")
    assert client is not None and client.text == "op102"
    assert client.attrib["statusCallbackEvent"] == "answered completed"
    assert client.attrib["statusCallback"].endswith("/twilio/operator-leg?operator=op102")


def test_a_90_second_conversation_keeps_its_operator_and_ends_in_wrap_up(engine: Engine, clock: Clock) -> None:
    client = create_app(engine).test_client()
    dial = bridged(engine, client)
    leg_url = dial.find("Client").attrib["statusCallback"].removeprefix(PUBLIC)  # type: ignore[union-attr]
    clock.now += 4  # it rings, then op102 picks up
    answered = post(client, leg_url, {"CallSid": LEG, "ParentCallSid": SID, "CallStatus": "in-progress",
                                      "AccountSid": BASE["AccountSid"]})
    assert answered.status_code == 204
    assert engine.router.status(SID).state == "connected"
    for _ in range(90):  # 90 s of conversation, the engine ticking every second
        clock.now += 1
        engine.tick()
        assert engine.router.status(SID).state == "connected"
        assert engine.router.operator_status("op102").state == "on_call"
    over = post(client, dial.attrib["action"], {**BASE, "DialCallStatus": "completed", "DialCallDuration": "90"})
    assert ET.fromstring(over.data).find("Hangup") is not None
    assert engine.router.status(SID).state == "gone"
    assert engine.router.operator_status("op102").state == "wrap_up"
    kinds = [e["type"] for _, e in engine.router.events()]
    assert "reservation_expired" not in kinds and "missed" not in kinds
    assert kinds.count("assigned") == 1  # never put back in line, never given to another
    ended = [e for _, e in engine.router.events() if e["type"] == "ended"]
    assert float(ended[0]["talk"]) == 90


def test_an_operator_who_does_not_answer_sends_the_caller_back_to_the_head_of_the_line(
    engine: Engine, clock: Clock
) -> None:
    client = create_app(engine).test_client()
    dial = bridged(engine, client)
    assert dial.attrib["timeout"] == str(engine.config.routing.ring_seconds)  # within the reservation
    clock.now += engine.config.routing.ring_seconds + 1  # Twilio gives up ringing
    reply = post(client, dial.attrib["action"], {**BASE, "DialCallStatus": "no-answer"})
    twiml = ET.fromstring(reply.data)
    assert twiml.find("Hangup") is None and twiml.find("Dial") is None  # the caller holds again
    assert twiml.find("Redirect") is not None or twiml.find("Gather") is not None
    status = engine.router.status(SID)
    assert (status.state, status.position) == ("waiting", 1)
    assert engine.router.operator_status("op102").state == "offline"
    assert engine.router.redis.hget(engine.router.keys.operator("op102"), "why") == b"missed"
    # Everything collected is still there for the next operator's screen-pop.
    engine.router.set_operator_state("op101", "available")
    engine.router.set_operator_state("op102", "available")
    again = engine.router.status(SID).assignment
    assert again is not None and again.context.get("inn") == "000082246517"


def test_a_forged_dial_report_is_refused_and_changes_nothing(engine: Engine) -> None:
    client = create_app(engine).test_client()
    dial = bridged(engine, client)
    forged = post(client, dial.attrib["action"], {**BASE, "DialCallStatus": "no-answer"}, token="forged")
    assert forged.status_code == 403
    leg = post(client, "/twilio/operator-leg?operator=op102",
               {"CallSid": LEG, "ParentCallSid": SID, "CallStatus": "in-progress"}, token="forged")
    assert leg.status_code == 403
    assert engine.router.status(SID).state == "reserved"
