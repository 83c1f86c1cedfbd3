"""A protocol-faithful fake Asterisk on loopback TCP, driven by a script.

Replies come from :class:`ivr.asterisk.peer.AsteriskPeer`, whose formats are checked
line by line against the real Asterisk 22 transcripts (test_transcripts.py).  The
script says which keys the caller presses (``.`` = a timeout, nothing pressed), when
the caller hangs up, and which wire faults to inject at which command.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

from ivr.asterisk.peer import AsteriskPeer, CallerGone, CallerHangsUp, default_env, env_block

Fault = Literal["garbage", "overlong", "stall", "vanish", "510", "511", "520", "hangup"]


class ScriptedCaller:
    """Keys typed ahead, pressed in order: during a prompt that allows them (barge-in)
    or at ``WAIT FOR DIGIT``.  ``.`` is a timeout, ``,`` listens to a prompt to its end.  When the keys run out the caller
    hangs up (``then_hang_up``), or stays silent."""

    def __init__(self, keys: str = "", *, hang_up_on: str | None = None, then_hang_up: bool = True,
                 barge_in: bool = True, name_key: str | None = None) -> None:
        self.keys = list(keys)
        self.hang_up_on = hang_up_on
        self.then_hang_up = then_hang_up
        self.barge_in = barge_in
        self.name_key = name_key  # a key pressed at once when recorded ('#': skip)
        self.heard: list[str] = []
        self.events: list[str] = []

    def hear(self, kind: str, what: str, escape: str) -> str | None:
        self.heard.append(what)
        if self.hang_up_on and what.endswith(self.hang_up_on):
            raise CallerHangsUp
        if self.keys and self.keys[0] == ",":  # listen to this prompt to its end
            self.keys.pop(0)
            return None
        if self.barge_in and self.keys and self.keys[0] != "." and self.keys[0] in escape:
            return self.keys.pop(0)
        return None

    def wait_key(self, ms: int) -> str | None:
        if not self.keys:
            if self.then_hang_up:
                raise CallerHangsUp
            return None
        key = self.keys.pop(0)
        return None if key == "." else key

    def speak(self, max_ms: int, escape: str) -> str | None:
        self.heard.append("<recorded>")
        return self.name_key

    def event(self, text: str) -> None:
        self.events.append(text)


@dataclass
class FakeCall:
    caller: ScriptedCaller = field(default_factory=ScriptedCaller)
    faults: Mapping[int, Fault] = field(default_factory=dict)  # command number (1-based) -> fault
    env: dict[str, str] = field(default_factory=lambda: default_env(caller="79990000001"))
    transcript: list[str] = field(default_factory=list)
    closed_by_server: bool = False
    seconds_to_close: float | None = None  # after the fault/hang-up, how long the server took
    source: str | None = None  # the address Asterisk connects from (a 127.0.0.x), None: any

    def run(self, address: tuple[str, int], *, timeout: float = 30.0) -> FakeCall:
        peer = AsteriskPeer(self.caller)
        source = None if self.source is None else (self.source, 0)
        with socket.create_connection(address, timeout=timeout, source_address=source) as sock:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            sock.sendall(env_block(self.env))
            reader = sock.makefile("rb")
            n = 0
            ended_at: float | None = None
            while True:
                try:
                    raw = reader.readline()
                except (TimeoutError, ConnectionResetError):
                    break
                if not raw:
                    self.closed_by_server = True
                    break
                line = raw.decode().rstrip("\n")
                self.transcript.append(f">> {line}")
                n += 1
                fault = self.faults.get(n)
                if fault == "hangup":
                    self.caller.hang_up_on = ""  # hang up during this command
                    self.caller.keys.clear()
                    peer.caller = _HangsUpNow(self.caller)
                out = _fault_lines(fault) if fault not in (None, "hangup") else peer.reply(line)
                if fault == "hangup":
                    peer.caller = self.caller
                if fault in ("stall", "vanish") or (peer.dead and ended_at is None):
                    ended_at = time.monotonic()
                if fault == "vanish":
                    sock.shutdown(socket.SHUT_RDWR)
                    break
                if fault == "stall":
                    continue  # say nothing; the server must drop us
                self.transcript.extend(f"<< {x}" for x in out)
                try:
                    sock.sendall("".join(f"{x}\n" for x in out).encode())
                except OSError:
                    break
            if ended_at is not None:
                self.seconds_to_close = time.monotonic() - ended_at
        return self


class _HangsUpNow(CallerGone):
    def __init__(self, inner: ScriptedCaller) -> None:
        self.inner = inner

    def event(self, text: str) -> None:
        self.inner.event(text)


def _fault_lines(fault: Fault | None) -> list[str]:
    if fault == "garbage":
        return ["\x07garbage \xff not AGI"]
    if fault == "overlong":
        return ["200 result=0 (" + "x" * 20000 + ")"]
    if fault == "510":
        return ["510 Invalid or unknown command"]
    if fault == "511":
        return ["511 Command Not Permitted on a dead channel or intercept routine"]
    if fault == "520":
        return ["520-Invalid command syntax.  Proper usage follows:", "Usage.", "520 End of proper usage."]
    return []
