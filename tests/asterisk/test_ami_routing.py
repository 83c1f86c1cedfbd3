"""AMI events -> the routing engine (real Redis): hand-overs followed, callbacks dialled.

The events are written as Asterisk 22 sends them (only the fields the code reads, plus a
few for realism); the real-Asterisk tier (tests/integration/test_hotline_real.py) places
the same calls through a real Asterisk.
"""

from __future__ import annotations

import calendar
import dataclasses
import socket
from pathlib import Path

import pytest

from ivr.asterisk.ami import AmiError, CallbackCall, Message
from ivr.asterisk.dialer import AsteriskCallbackDialer
from ivr.asterisk.handover import HandoverWatcher
from ivr.cli import _ami
from ivr.config import Secrets
from ivr.config.load import load_config
from ivr.config.schema import AsteriskSettings
from ivr.engine import build_engine
from routing.engine import Router
from routing.model import WaitingCall
from tests.asterisk.ami_double import AmiDouble
from tests.embedded import embedded_redis

ROOT = Path(__file__).resolve().parents[2]
NOON = calendar.timegm((2026, 3, 18, 9, 0, 0))  # a Wednesday, 12:00 in Moscow


@pytest.fixture
def router(tmp_path: Path) -> Router:
    config = load_config(ROOT / "config.yaml")
    return Router(redis=embedded_redis(str(tmp_path / "r.db")), queues=config.queues,
                  operators=config.operators, settings=config.routing, calendar=config.calendar,
                  clock=lambda: NOON, prefix="t")


def waiting(router: Router, call_id: str = "1795314958.0") -> str:
    router.enqueue(WaitingCall(call_id=call_id, queue="payments", skills=("payments",), priority=0,
                               language="ru", caller="+79990000001", enqueued_at=NOON,
                               context={"appeal": "2026000001"}))
    return call_id


def dial_end(uid: str, status: str) -> Message:
    return {"Event": "DialEnd", "Channel": "PJSIP/trunk-00000001", "Uniqueid": uid,
            "DestChannel": "PJSIP/op102-00000002", "DialStatus": status}


def hangup(uid: str) -> Message:
    return {"Event": "Hangup", "Channel": "PJSIP/trunk-00000001", "Uniqueid": uid, "Cause": "16"}


# -- hand-overs ---------------------------------------------------------------------------


def test_answered_hand_over_is_connected_then_ended(router: Router) -> None:
    call = waiting(router)
    router.set_operator_state("op102", "available")
    assert router.status(call).state == "reserved"
    watcher = HandoverWatcher(router=router)
    watcher.on_event(dial_end(call, "ANSWER"))
    assert router.status(call).state == "connected"
    assert router.operator_status("op102").state == "on_call"
    watcher.on_event(hangup(call))
    assert router.status(call).state == "gone"
    assert router.operator_status("op102").state == "wrap_up"


def test_unanswered_hand_over_puts_the_caller_back_at_the_head_and_the_operator_not_ready(
    router: Router,
) -> None:
    call = waiting(router)
    router.set_operator_state("op102", "available")
    HandoverWatcher(router=router).on_event(dial_end(call, "NOANSWER"))
    st = router.status(call)
    assert (st.state, st.position) == ("waiting", 1)  # in our line, not the dialplan's Queue()
    assert router.operator_status("op102").state == "offline"
    assert router.redis.hget(router.keys.operator("op102"), "why") == b"missed"


def test_a_caller_who_hangs_up_while_it_rings_is_abandoned_not_missed(router: Router) -> None:
    call = waiting(router)
    router.set_operator_state("op102", "available")
    watcher = HandoverWatcher(router=router)
    watcher.on_event(dial_end(call, "CANCEL"))
    assert router.status(call).state == "reserved"  # the Hangup tells
    watcher.on_event(hangup(call))
    assert router.status(call).state == "abandoned"
    assert router.operator_status("op102").state == "available"


def test_other_channels_and_events_are_ignored(router: Router) -> None:
    call = waiting(router)
    watcher = HandoverWatcher(router=router)
    for event in (dial_end("1795314999.9", "ANSWER"), hangup("nobody"), dial_end(call, "ANSWER"),
                  {"Event": "Newchannel", "Uniqueid": call}, {"Event": "DialEnd"}):
        watcher.on_event(event)
    assert router.status(call).state == "waiting"  # not reserved: nothing to confirm


# -- callbacks ------------------------------------------------------------------------------


class RecordingAmi:
    def __init__(self, fail: bool = False) -> None:
        self.fail = fail
        self.originated: list[tuple[CallbackCall, str]] = []

    def originate_callback(self, call: CallbackCall, *, channel_id: str = "") -> Message:
        if self.fail:
            raise AmiError("no response to Originate within 10.0 s")
        self.originated.append((call, channel_id))
        return {"Response": "Success", "Message": "Originate successfully queued"}


def due_callback(router: Router) -> tuple[str, AsteriskCallbackDialer, RecordingAmi]:
    call = waiting(router)
    router.request_callback(call, "+79990000001")
    router.set_operator_state("op102", "available")
    ami = RecordingAmi()
    dialer = AsteriskCallbackDialer(router=router, ami=ami)  # type: ignore[arg-type]
    [assignment] = router.due_callbacks()
    dialer.place_callback(assignment)
    return call, dialer, ami


def test_callback_originated_answered_and_ended(router: Router) -> None:
    call, dialer, ami = due_callback(router)
    [(placed, leg)] = ami.originated
    assert (placed.callback_id, placed.number, placed.operator_endpoint, placed.appeal) == (
        "cb-" + call, "+79990000001", "PJSIP/op102", "2026000001")
    assert leg.startswith("ivr-cb-")
    dialer.on_event({"Event": "OriginateResponse", "Response": "Success", "Uniqueid": leg,
                     "Channel": "Local/callback@hotline-callback-00000003;1", "Reason": "4"})
    assert router.status(call).state == "reserved"  # the operator answered; not the citizen yet
    dialer.on_event(dial_end(leg, "ANSWER"))
    assert router.status(call).state == "connected"
    dialer.on_event(dial_end(leg, "ANSWER"))  # reported once
    dialer.on_event(hangup(leg))
    assert router.status(call).state == "gone"
    assert router.operator_status("op102").state == "wrap_up"
    assert dialer.in_progress == 0


def test_citizen_not_answering_is_retried_later(router: Router) -> None:
    call, dialer, ami = due_callback(router)
    [(_, leg)] = ami.originated
    dialer.on_event(dial_end(leg, "NOANSWER"))
    dialer.on_event(hangup(leg))
    assert router.status(call).state == "callback"
    assert router.operator_status("op102").state == "available"
    assert dialer.in_progress == 0


def test_operator_not_answering_counts_as_a_failed_attempt(router: Router) -> None:
    call, dialer, ami = due_callback(router)
    [(_, leg)] = ami.originated
    dialer.on_event({"Event": "OriginateResponse", "Response": "Failure", "Uniqueid": leg, "Reason": "3"})
    assert router.status(call).state == "callback"
    assert dialer.in_progress == 0


def test_originate_failing_leaves_the_reservation_to_expire(router: Router) -> None:
    call = waiting(router)
    router.request_callback(call, "+79990000001")
    router.set_operator_state("op102", "available")
    dialer = AsteriskCallbackDialer(router=router, ami=RecordingAmi(fail=True))  # type: ignore[arg-type]
    [assignment] = router.due_callbacks()
    dialer.place_callback(assignment)  # logs, does not raise
    assert router.status(call).state == "reserved"
    assert dialer.in_progress == 0


# -- ivr serve: asterisk.ami in config.yaml, IVR_AMI_SECRET ---------------------------------


def test_serve_logs_in_to_ami_when_configured(tmp_path: Path) -> None:
    config = load_config(ROOT / "config.yaml")
    assert config.asterisk == AsteriskSettings(ami=None, ami_user="ivr-engine")
    fake = AmiDouble(secret="s3cret")
    config = dataclasses.replace(config, asterisk=AsteriskSettings(ami=fake.address))
    engine = build_engine(config, Secrets(ami_secret="s3cret"),
                          redis=embedded_redis(str(tmp_path / "r.db")))
    services = _ami(config, engine)
    assert services is not None and engine.dialers["asterisk"] is services.dialer
    services.close()
    assert fake.actions[0]["Username"] == "ivr-engine"


def test_serve_goes_on_without_ami_when_asterisk_is_down(tmp_path: Path) -> None:
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        closed = probe.getsockname()
    config = dataclasses.replace(load_config(ROOT / "config.yaml"),
                                 asterisk=AsteriskSettings(ami=closed))
    engine = build_engine(config, Secrets(), redis=embedded_redis(str(tmp_path / "r.db")))
    assert _ami(config, engine) is None and "asterisk" not in engine.dialers
