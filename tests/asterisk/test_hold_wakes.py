"""A caller on hold is put through when routing reserves an operator, not at the next 5 s look.

The shipped config and menu, routing on a real Redis, the FastAGI server and AMI as ``ivr
serve`` builds them (:func:`ivr.asterisk.wiring.ami_services`), an AMI double that does what
Asterisk 22 does with ``PlayDTMF`` ``Receive: true`` (the key reaches the channel's
``WAIT FOR DIGIT``), and a fake Asterisk whose caller waits on hold in real time."""

from __future__ import annotations

import calendar
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from ivr.asterisk.peer import default_env
from ivr.asterisk.wakes import WAKE_KEY, HoldWakes
from ivr.asterisk.wiring import AmiServices, ami_services, fastagi_server
from ivr.config import Secrets
from ivr.config.load import load_config
from ivr.engine import Engine, build_engine
from tests.asterisk.ami_double import AmiDouble
from tests.embedded import embedded_redis
from tests.ops.callers import MenuCaller, place_call

ROOT = Path(__file__).resolve().parents[2]
NOON = calendar.timegm((2026, 3, 18, 9, 0, 0))  # a Wednesday, 12:00 in Moscow: payments open
INN = "000082246517"
CALL = "1795314958.7"
CHANNEL = "PJSIP/caller-00000007"


class OnHoldCaller(MenuCaller):
    """Waits on hold in real time; a key "received" on the channel (AMI) ends the wait."""

    def __init__(self) -> None:
        super().__init__(numbers=[INN], topic="4")
        self.received = threading.Event()
        self.holds: list[int] = []  # each hold's WAIT FOR DIGIT, ms
        self.holding = threading.Event()

    def wait_key(self, ms: int) -> str | None:
        if self.pending or self.on_hold_since is None:
            return super().wait_key(ms)
        self.holds.append(ms)
        self.holding.set()
        if self.received.wait(ms / 1000):
            self.received.clear()
            return WAKE_KEY
        return None


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    t0 = time.monotonic()
    yield build_engine(load_config(ROOT / "config.yaml"), Secrets(ami_secret="s3cret"),
                       redis=embedded_redis(str(tmp_path / "r.db")),
                       clock=lambda: NOON + time.monotonic() - t0)


def asterisk_for(caller: OnHoldCaller) -> AmiDouble:
    def reply(action: dict[str, str]) -> str | None:
        if action.get("Action") != "PlayDTMF":
            return None
        if action.get("Channel") != CHANNEL:
            return "Channel not found"
        if action.get("Receive") == "true":
            caller.received.set()
        return None

    return AmiDouble(reply=reply, secret="s3cret")


def with_ami(engine: Engine, caller: OnHoldCaller) -> tuple[AmiDouble, AmiServices]:
    """The caller's Asterisk, and the engine logged in to its AMI as ``ivr serve`` does."""
    asterisk = asterisk_for(caller)
    return asterisk, ami_services(engine, host=asterisk.address[0], port=asterisk.address[1],
                                  username="ivr-engine", secret="s3cret")


def call_in_line(engine: Engine, caller: OnHoldCaller) -> tuple[threading.Thread, tuple[str, int]]:
    server = fastagi_server(engine, ("127.0.0.1", 0))
    server.start()
    env = {**default_env(caller="79990000001", uniqueid=CALL), "agi_channel": CHANNEL}
    call = threading.Thread(target=place_call, args=(server.address, caller, env), daemon=True)
    call.start()
    assert caller.holding.wait(20), caller.heard
    assert engine.router.status(CALL).state == "waiting"
    call.server = server  # type: ignore[attr-defined]
    return call, server.address


def test_a_held_caller_is_put_through_within_a_tick_of_the_operator_getting_ready(engine: Engine) -> None:
    caller = OnHoldCaller()
    asterisk, ami = with_ami(engine, caller)
    call, _ = call_in_line(engine, caller)
    try:
        engine.tick()  # the news reader starts from the stream's end (its first look wakes every call)
        before = len([a for a in asterisk.actions if a.get("Action") == "PlayDTMF"])
        deadline = time.monotonic() + 5
        while len(caller.holds) < 1 + before and time.monotonic() < deadline:  # on hold again
            time.sleep(0.01)
        assert len(caller.holds) == 1 + before
        ready = time.monotonic()
        engine.router.set_operator_state("op102", "available")  # the console's "Готов": reserved for the call
        assert engine.router.status(CALL).state == "reserved"
        engine.tick()  # routing's "assigned" names the call: AMI cuts its hold short
        call.join(10)
        put_through = time.monotonic() - ready
    finally:
        call.server.shutdown(2.0)  # type: ignore[attr-defined]
        ami.close()
    assert caller.variables.get("IVR_STATUS") == "connect", (caller.variables, caller.heard)
    assert caller.variables.get("IVR_OPERATOR") == "op102"
    assert put_through < 3.0  # not at the end of the hold
    # The hold was asked to last until the next announcement (45 s after the first), not 5 s.
    assert caller.holds and min(caller.holds) > 30_000, caller.holds
    [wake] = [a for a in asterisk.actions if a.get("Action") == "PlayDTMF"][before:]
    assert (wake["Channel"], wake["Digit"], wake["Receive"]) == (CHANNEL, WAKE_KEY, "true")


def test_without_ami_a_hold_lasts_poll_seconds(engine: Engine) -> None:
    caller = OnHoldCaller()
    call, _ = call_in_line(engine, caller)
    try:
        engine.router.set_operator_state("op102", "available")
        engine.tick()
        call.join(15)
    finally:
        call.server.shutdown(2.0)  # type: ignore[attr-defined]
    assert caller.variables.get("IVR_STATUS") == "connect"
    assert 4_900 <= caller.holds[0] <= 5_000  # the enqueue node's poll_seconds: nothing could cut it short


def test_news_for_a_call_between_two_holds_ends_its_next_hold_at_once() -> None:
    sent: list[str] = []
    wakes = HoldWakes(lambda host: sent.append)
    wakes.opened("1.1", "PJSIP/a-1", "10.0.0.5")
    wakes.opened("1.2", "PJSIP/b-2", "10.0.0.5")
    assert wakes.begin_hold("1.1")
    assert wakes.news(["1.1", "1.2", "9.9"]) == 1  # 1.2 hears an announcement; 9.9 is another engine's
    assert sent == ["PJSIP/a-1"]
    wakes.end_hold("1.1")
    assert wakes.begin_hold("1.2") is False  # its next hold is a look at routing now
    assert wakes.begin_hold("1.2") is True  # once
    assert wakes.news(["1.2"]) == 1 and sent == ["PJSIP/a-1", "PJSIP/b-2"]
    assert wakes.news(["1.2"]) == 0  # one wake a hold: it is already cut short


def test_a_wake_the_telephony_refuses_is_logged_and_the_others_still_go(caplog: pytest.LogCaptureFixture) -> None:
    sent: list[str] = []

    def send(channel: str) -> None:
        if channel == "PJSIP/gone-1":
            raise RuntimeError("Channel not found")
        sent.append(channel)

    wakes = HoldWakes(lambda host: send)
    for call_id, channel in (("1.1", "PJSIP/gone-1"), ("1.2", "PJSIP/b-2")):
        wakes.opened(call_id, channel, "10.0.0.5")
        wakes.begin_hold(call_id)
    assert wakes.news(["1.1", "1.2"]) == 1
    assert sent == ["PJSIP/b-2"]
    assert "1.1" in caplog.text and "Channel not found" in caplog.text


def test_shutdown_cuts_long_holds_short_to_hand_the_calls_back(engine: Engine) -> None:
    caller = OnHoldCaller()
    _, ami = with_ami(engine, caller)
    call, _ = call_in_line(engine, caller)
    try:
        stopping = time.monotonic()
        call.server.shutdown(1.0)  # type: ignore[attr-defined]
        took = time.monotonic() - stopping
        call.join(5)
    finally:
        ami.close()
    assert caller.variables.get("IVR_STATUS") == "handback"
    assert took < 4.0  # 1 s of drain, then at once: not the rest of a 45 s hold


def test_a_call_from_an_asterisk_whose_ami_the_engine_lacks_holds_poll_seconds_at_a_time() -> None:
    """Several Asterisk hosts, one AMI: the others' calls cannot be woken, so they are not
    left holding until their announcement."""
    sent: list[str] = []
    wakes = HoldWakes(lambda host: sent.append if host == "10.0.0.5" else None)
    wakes.opened("1.1", "PJSIP/a-1", "10.0.0.5")
    wakes.opened("2.1", "PJSIP/a-1", "10.0.0.6")
    assert wakes.armed("1.1") and not wakes.armed("2.1") and not wakes.armed("9.9")


def test_the_first_read_of_routings_news_counts_as_news_for_every_call(engine: Engine) -> None:
    """An event between a call's start and the reader's first look would be lost: the first
    look makes every call look at routing once."""
    sent: list[str] = []
    wakes = HoldWakes(lambda host: sent.append)
    assert wakes.read_news(engine.router) == 0 and wakes.cursor is None  # no call: nothing read
    wakes.opened("1.1", "PJSIP/a-1", "127.0.0.1")
    wakes.opened("1.2", "PJSIP/b-2", "127.0.0.1")
    wakes.begin_hold("1.1")
    engine.router.set_operator_state("op102", "available")  # an event before the first look
    assert wakes.read_news(engine.router) == 1 and sent == ["PJSIP/a-1"]
    assert wakes.begin_hold("1.2") is False  # between holds: its next one looks at routing first
    assert wakes.read_news(engine.router) == 0  # from the stream's end on: nothing new


def test_without_ami_routings_news_is_not_read() -> None:
    """The README's defaults: nothing can cut a hold short, so the tick reads no events."""

    class Unread:
        def latest_event_id(self) -> str:
            raise AssertionError("read without AMI")

        def events(self, *args: object, **kwargs: object) -> list[object]:
            raise AssertionError("read without AMI")

    wakes = HoldWakes()
    wakes.opened("1.1", "PJSIP/a-1", "127.0.0.1")
    assert wakes.read_news(Unread()) == 0 and wakes.cursor is None
