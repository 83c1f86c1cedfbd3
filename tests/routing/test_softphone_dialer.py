"""Callbacks to the terminal softphone (no AMI): the engine's dialer rings the softphone's
line on loopback and routing follows what the line says, as it follows AMI's events."""

from __future__ import annotations

import io
import logging
import threading
import time
from typing import Any

import pytest
from redis.exceptions import ConnectionError as RedisConnectionError

from ivr.asterisk.keypad import Keypad
from ivr.softphone import wire
from ivr.softphone.dialer import SoftphoneDialer
from ivr.softphone.phone import SoftphoneLine
from ivr.softphone.registry import SoftphoneRegistry
from tests.routing.conftest import FakeClock, RouterFactory, call, op, operators

NUMBER = "+79990000001"


def until(condition: Any, timeout: float = 5.0) -> Any:
    deadline = time.monotonic() + timeout
    while not (value := condition()):
        assert time.monotonic() < deadline, "did not happen in time"
        time.sleep(0.02)
    return value


def due_callback(make_router: RouterFactory, clock: FakeClock) -> Any:
    router = make_router(operators(a=op({"general": 5})))
    router.enqueue(call("c1", clock.advance(1)))
    router.request_callback("c1", NUMBER)
    router.set_operator_state("a", "available")
    [due] = router.due_callbacks()
    return router, due


def test_the_softphone_answers_talks_and_hangs_up(make_router: RouterFactory, clock: FakeClock,
                                                 redis: Any, prefix: str) -> None:
    router, due = due_callback(make_router, clock)
    keypad = Keypad(io.StringIO(""))  # the line's rings only; nobody types here
    line = SoftphoneLine(keypad=keypad).start()
    dialer = SoftphoneDialer(router=router, registry=SoftphoneRegistry(redis=redis, prefix=prefix))
    try:
        assert dialer.takes_call({"agi_callerid": "79990000001", wire.ENV_KEY: line.contact})
        dialer.place_callback(due)
        ring = keypad.next(5)
        assert ring is not None and ring.kind == "ring" and ring.value == "cb-c1"
        assert line.ringing is not None and line.ringing.seconds == dialer.ring_seconds(due)
        assert line.answer()
        until(lambda: router.status("c1").state == "connected")
        assert router.operator_status("a").state == "on_call"
        line.hang_up()
        until(lambda: router.status("c1").state == "gone")
        assert router.operator_status("a").state == "wrap_up"
    finally:
        line.close()


def test_a_declined_or_unreachable_callback_is_not_answered_and_keeps_its_place(
        make_router: RouterFactory, clock: FakeClock, redis: Any, prefix: str) -> None:
    router, due = due_callback(make_router, clock)
    dialer = SoftphoneDialer(router=router, registry=SoftphoneRegistry(redis=redis, prefix=prefix))
    dialer.place_callback(due)  # no softphone ever called from this number
    until(lambda: router.status("c1").state == "callback")
    assert router.operator_status("a").state == "available"
    assert router.callback("cb-c1").attempts == 1  # type: ignore[union-attr]


def test_only_a_softphone_on_loopback_is_remembered(redis: Any, prefix: str) -> None:
    registry = SoftphoneRegistry(redis=redis, prefix=prefix)
    assert wire.contact_of({wire.ENV_KEY: "10.0.0.7:5060"}) is None
    assert wire.contact_of({wire.ENV_KEY: "127.0.0.1:x"}) is None
    # issue 20's attack: "²" and a 5,000-digit port raised (the call failed), "٣٣" read as 33
    for port in ("²", "٣٣", "1" * 5000, "+80", " 80", "0", "65536"):
        assert wire.contact_of({wire.ENV_KEY: f"127.0.0.1:{port}"}) is None, port
    assert wire.contact_of({}) is None
    assert wire.contact_of({wire.ENV_KEY: "127.0.0.1:45678"}) == ("127.0.0.1", 45678)
    assert registry.register("79990000001", ("127.0.0.1", 45678))
    assert registry.contact("+7 999 000-00-01") == ("127.0.0.1", 45678)
    assert not registry.register("unknown", ("127.0.0.1", 45678))
    assert all("9990000001" not in key.decode() for key in redis.keys("*softphone*"))  # hashed
    registry.register_call("1795.3", ("127.0.0.1", 45678))  # told when its operator misses it
    assert registry.call_contact("1795.3") == ("127.0.0.1", 45678)
    assert registry.call_contact("1795.4") is None


def test_the_wire() -> None:
    assert wire.parse(wire.ring("cb-1.2", 19)) == wire.Message("RING", "cb-1.2", 19)
    assert wire.parse(b"ANSWER\n") == wire.Message("ANSWER")
    assert wire.parse(wire.missed("1795.3", "op101")) == wire.Message("MISSED", call_id="1795.3", operator="op101")
    assert wire.parse(wire.answered("1795.3", "op101")) == wire.Message("ANSWERED", call_id="1795.3", operator="op101")
    for bad in (b"RING cb-1\n", b"HELLO\n", b"ANSWER now\n", b"RING a b\n", b"MISSED 1795.3\n", b"ANSWERED 1\n"):
        try:
            wire.parse(bad)
        except wire.LineError:
            continue
        raise AssertionError(bad)


def test_a_failure_on_the_lines_thread_is_logged_not_left_to_the_thread_hook(
        make_router: RouterFactory, clock: FakeClock, redis: Any, prefix: str,
        monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    """Seen in CI: the citizen hangs up as the engine stops, Redis is closed, and the
    conversation's end raised out of the line's thread onto stderr."""
    router, due = due_callback(make_router, clock)
    keypad = Keypad(io.StringIO(""))
    line = SoftphoneLine(keypad=keypad).start()
    dialer = SoftphoneDialer(router=router, registry=SoftphoneRegistry(redis=redis, prefix=prefix))
    unhandled: list[threading.ExceptHookArgs] = []
    monkeypatch.setattr(threading, "excepthook", unhandled.append)
    try:
        assert dialer.takes_call({"agi_callerid": "79990000001", wire.ENV_KEY: line.contact})
        dialer.place_callback(due)
        assert keypad.next(5) is not None
        assert line.answer()
        until(lambda: router.status("c1").state == "connected")

        def closed(outcome: object) -> None:
            raise RedisConnectionError("Connection closed by server.")

        monkeypatch.setattr(dialer.life, "apply", closed)
        with caplog.at_level(logging.ERROR, logger="ivr.softphone.dialer"):
            line.hang_up()
            until(lambda: any("following the softphone's line failed" in r.getMessage() for r in caplog.records))
    finally:
        line.close()
    assert unhandled == []
