"""An operator who does not answer a call handed over through Asterisk: the caller goes back
to the head of OUR line with everything the menu collected, and the dialplan hands the
channel back to the engine (``AGI(${IVR_AGI},resume,${DIALSTATUS})``), which holds it and
connects it to the next operator; the dialplan's ``Queue()`` is only for an engine that is down.

The shipped config and menu, routing on a real Redis, the FastAGI server on loopback and a
fake Asterisk that answers as Asterisk 22 does (tests/ops/callers.py)."""

from __future__ import annotations

import calendar
import re
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from ivr.asterisk.handover import HandoverWatcher
from ivr.asterisk.peer import default_env
from ivr.asterisk.wiring import fastagi_server
from ivr.config import Secrets
from ivr.config.load import load_config
from ivr.engine import Engine, build_engine
from tests.embedded import embedded_redis
from tests.ops.callers import MenuCaller, place_call

ROOT = Path(__file__).resolve().parents[2]
NOON = calendar.timegm((2026, 3, 18, 9, 0, 0))  # a Wednesday, 12:00 in Moscow: payments open
INN = "000082246517"
CALL = "1795314958.7"


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    t0 = time.monotonic()
    engine = build_engine(load_config(ROOT / "config.yaml"), Secrets(),
                          redis=embedded_redis(str(tmp_path / "r.db")),
                          clock=lambda: NOON + time.monotonic() - t0)
    yield engine


def handed_over(engine: Engine, address: tuple[str, int]) -> MenuCaller:
    engine.router.set_operator_state("op102", "available")
    caller = place_call(address, MenuCaller(numbers=[INN], topic="4"), default_env(caller="79990000001", uniqueid=CALL))
    assert caller.variables.get("IVR_STATUS") == "connect", caller.variables
    assert engine.router.status(CALL).state == "reserved"
    return caller


def returned(address: tuple[str, int], dial_status: str) -> MenuCaller:
    """The dialplan after ``Dial()`` failed: ``AGI(${IVR_AGI},resume,${DIALSTATUS})``."""
    env = {**default_env(caller="79990000001", uniqueid=CALL), "agi_arg_1": "resume", "agi_arg_2": dial_status}
    return place_call(address, MenuCaller(patience=20), env)


@pytest.mark.parametrize("ami", [True, False], ids=["ami-dialend", "no-ami-dialstatus"])
def test_a_missed_hand_over_holds_at_the_head_of_our_line_then_goes_to_the_next_operator(
    engine: Engine, ami: bool
) -> None:
    server = fastagi_server(engine, ("127.0.0.1", 0))
    if ami:
        engine.answer_events.add("asterisk")  # as ami_services does: DialEnd moves the call
    server.start()
    try:
        handed_over(engine, server.address)
        if ami:  # AMI's DialEnd reaches the engine before the dialplan's return
            HandoverWatcher(router=engine.router, life=engine.call_life).on_event(
                {"Event": "DialEnd", "Uniqueid": CALL, "DialStatus": "NOANSWER"})
            status = engine.router.status(CALL)
            assert (status.state, status.position) == ("waiting", 1)
            engine.router.set_operator_state("op102", "available")  # op102 is back; he takes it again
            assert engine.router.status(CALL).state == "reserved"
            back = returned(server.address, "NOANSWER")
        else:  # no AMI: the dialplan's return is the only word; op102 comes back meanwhile
            def back_soon() -> None:
                while engine.router.operator_status("op102").state != "offline":
                    time.sleep(0.05)
                engine.router.set_operator_state("op102", "available")

            helper = threading.Thread(target=back_soon)
            helper.start()
            back = returned(server.address, "NOANSWER")
            helper.join()
        assert back.variables.get("IVR_STATUS") == "connect", (back.variables, back.heard)
        assert re.search(r"PJSIP/op102", back.variables.get("IVR_OPERATOR_ENDPOINT", "")), back.variables
        assert "queue.position" in back.heard  # told where they are: first in line
        assert "menu.main" not in back.heard and "language.choose" not in back.heard  # not the menu again
    finally:
        server.shutdown(2.0)
    kinds = [e["type"] for _, e in engine.router.events()]
    assert kinds.count("missed") == 1 and "abandoned" not in kinds
    ctx = engine.router.context(CALL)
    assert ctx is not None and ctx["inn"] == INN  # everything collected, for the next screen-pop


def test_a_call_routing_no_longer_holds_goes_on_to_the_dialplans_fallback(engine: Engine) -> None:
    server = fastagi_server(engine, ("127.0.0.1", 0))
    server.start()
    try:
        back = returned(server.address, "NOANSWER")  # never queued here (an engine that lost it)
    finally:
        server.shutdown(2.0)
    assert back.variables.get("IVR_STATUS") != "connect"
    assert back.heard == []


def test_a_return_naming_the_operator_dialled_does_not_count_a_miss_against_the_next_one(engine: Engine) -> None:
    """No AMI: the engine's ring timer reported op101's miss first and routing offered the
    call on to op104; the return (``resume,NOANSWER,op101``: the dialled operator named, as
    the terminal softphone does) is not op104's miss: he gets the call."""
    from ivr.aftermenu import OperatorMissed

    server = fastagi_server(engine, ("127.0.0.1", 0))
    server.start()
    try:
        engine.router.set_operator_state("op101", "available")
        caller = place_call(server.address, MenuCaller(numbers=[INN], topic="0"),
                            default_env(caller="79990000001", uniqueid=CALL))
        assert caller.variables.get("IVR_OPERATOR") == "op101", caller.variables
        engine.call_life.apply(OperatorMissed(CALL, "op101", "ring_timeout"))  # the ring timer
        engine.router.set_operator_state("op104", "available")  # takes it at once
        assert engine.router.operator_status("op104").state == "reserved"
        env = {**default_env(caller="79990000001", uniqueid=CALL),
               "agi_arg_1": "resume", "agi_arg_2": "NOANSWER", "agi_arg_3": "op101"}
        back = place_call(server.address, MenuCaller(patience=20), env)
    finally:
        server.shutdown(2.0)
    assert back.variables.get("IVR_OPERATOR") == "op104", (back.variables, back.heard)
    assert engine.router.operator_status("op104").state == "reserved"
    kinds = [e["type"] for _, e in engine.router.events()]
    assert kinds.count("missed") == 1


def test_a_returned_call_that_ends_in_line_is_logged_and_counted_as_leaving_the_menu(engine: Engine) -> None:
    """Found trying a softphone call: a call back in line after a missed operator ended
    without its "ended" log line (the runner of the returned call had none of the engine's
    observers: the call log line, the metrics), and counting it with them must not take it
    off the calls-in-menu gauge a second time without counting it back in."""
    from tests.ops.test_metrics import value

    server = fastagi_server(engine, ("127.0.0.1", 0))
    server.start()
    try:
        handed_over(engine, server.address)
        in_menu = value(engine.metrics, "ivr_calls_in_menu", channel="asterisk")
        env = {**default_env(caller="79990000001", uniqueid=CALL), "agi_arg_1": "resume", "agi_arg_2": "NOANSWER"}
        back = place_call(server.address, MenuCaller(patience=0.5), env)  # nobody free: hangs up on hold
    finally:
        server.shutdown(2.0)
    assert back.hung_up_by_caller and engine.router.status(CALL).state == "abandoned"
    assert value(engine.metrics, "ivr_calls_ended_total", channel="asterisk", outcome="abandoned") == 1
    assert value(engine.metrics, "ivr_menu_hangups_total", menu="hotline", node="queue") == 1
    assert in_menu == 0 and value(engine.metrics, "ivr_calls_in_menu", channel="asterisk") == 0


def hung_up(address: tuple[str, int]) -> MenuCaller:
    """``[operator-handover]``'s h extension: ``AGI(${IVR_AGI},hungup)`` on the dead channel."""
    env = {**default_env(caller="79990000001", uniqueid=CALL), "agi_arg_1": "hungup"}
    return place_call(address, MenuCaller(), env)


def test_the_dialplans_word_that_the_conversation_is_over_sends_the_operator_to_wrap_up(
    engine: Engine, caplog: pytest.LogCaptureFixture
) -> None:
    """No AMI (the README's defaults): without the h extension's word the operator stayed
    "on a call" after the citizen hung up, until they wrapped up by hand."""
    caplog.set_level("INFO", logger="ivr.asterisk.session")
    server = fastagi_server(engine, ("127.0.0.1", 0))
    server.start()
    try:
        handed_over(engine, server.address)
        engine.router.connected(CALL)  # the console's "answered"
        gone = hung_up(server.address)
    finally:
        server.shutdown(2.0)
    assert gone.heard == [] and gone.variables == {}  # nothing sent on the dead channel
    # Its log line does not read as a new call (found trying it: "call ... from ..." alone).
    assert f"call {CALL} from *******0001 (hungup)" in caplog.text
    assert engine.router.status(CALL).state == "gone"
    assert engine.router.operator_status("op102").state == "wrap_up"


def test_a_caller_who_gives_up_while_it_rings_frees_the_operator_with_no_miss(engine: Engine) -> None:
    server = fastagi_server(engine, ("127.0.0.1", 0))
    server.start()
    try:
        handed_over(engine, server.address)
        hung_up(server.address)
        again = hung_up(server.address)  # AMI's Hangup, or a second word: changes nothing
    finally:
        server.shutdown(2.0)
    assert again.heard == []
    assert engine.router.status(CALL).state == "abandoned"
    assert engine.router.operator_status("op102").state == "available"
    kinds = [e["type"] for _, e in engine.router.events()]
    assert "abandoned" in kinds and "missed" not in kinds
