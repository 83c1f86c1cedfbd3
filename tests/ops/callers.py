"""A caller who walks the shipped hotline menu by what they hear (for the log and
two-engine tests and for ``bench/soak.py``), behind :class:`ivr.asterisk.peer.AsteriskPeer`.

Unlike a fixed key script, the caller answers each prompt by its id, so the walk
holds whatever the routing engine announces (positions, waits, the callback offer):

=========================  =================================================
``language.choose``        ``1`` (Russian)
``identity.enter_number``  the next number of ``numbers`` (wrong ones first), ``#``
``common.confirm``         ``1`` (the readback is right)
``menu.main``              ``topic``
``consent.ask(_keys)``     ``consent``
``queue.callback_offer``   ``1`` when ``callback`` is set
``callback.confirm_number``  ``1`` when the number is the caller's own, else ``2``
``callback.enter_number``  ``callback`` and ``#``
=========================  =================================================

``hang_up_at``: the caller hangs up while that prompt plays (mid-prompt).
"""

from __future__ import annotations

import socket
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ivr.asterisk.peer import AsteriskPeer, CallerHangsUp, env_block


@dataclass
class MenuCaller:
    numbers: list[str] = field(default_factory=list)
    topic: str = "4"
    consent: str = "1"
    callback: str | None = None  # None: wait for an operator; "own": the caller id; or a number
    hang_up_at: str | None = None
    patience: float | None = None  # seconds on hold before hanging up
    heard: list[str] = field(default_factory=list)
    variables: dict[str, str] = field(default_factory=dict)
    hung_up_by_engine: bool = False
    hung_up_by_caller: bool = False
    on_hold_since: float | None = None
    typed_callback: bool = False

    def __post_init__(self) -> None:
        self.pending: list[str] = []

    def _type(self, keys: str) -> str | None:
        self.pending = list(keys[1:])
        return keys[:1] or None

    def hear(self, kind: str, what: str, escape: str) -> str | None:
        prompt = what.rsplit("/", 1)[-1] if kind == "file" else kind
        self.heard.append(prompt)
        if self.hang_up_at is not None and prompt == self.hang_up_at:
            self.hung_up_by_caller = True
            raise CallerHangsUp
        if prompt == "identity.enter_number":  # a 12-digit entry ends itself; shorter ones with #
            number = self.numbers.pop(0) if self.numbers else ""
            return self._type(number + ("" if len(number) == 12 else "#"))
        if self.pending:
            return None  # still typing: the keys go to WAIT FOR DIGIT
        if prompt == "language.choose":
            return "1"
        if prompt == "common.confirm":
            return "1"
        if prompt == "menu.main":
            return self.topic
        if prompt in ("consent.ask", "consent.ask_keys"):  # with speech, without
            return self.consent
        if prompt == "queue.callback_offer":
            return "1" if self.callback else None
        if prompt == "callback.confirm_number":
            return "1" if self.callback == "own" or self.typed_callback else "2"
        if prompt == "callback.enter_number":
            self.typed_callback = True
            return self._type(str(self.callback) + "#")
        return None

    def wait_key(self, ms: int) -> str | None:
        if self.pending:
            return self.pending.pop(0)
        if (self.patience is not None and self.on_hold_since is not None
                and time.monotonic() - self.on_hold_since > self.patience):
            self.hung_up_by_caller = True
            raise CallerHangsUp
        return None

    def speak(self, max_ms: int, escape: str) -> str | None:
        return None  # the name is said (recorded, no recogniser behind Asterisk here)

    def event(self, text: str) -> None:
        if text.startswith("StartMusicOnHold") and self.on_hold_since is None:
            self.on_hold_since = time.monotonic()
        if text == "hangup":
            self.hung_up_by_engine = True
        elif "=" in text:
            name, _, value = text.partition("=")
            self.variables[name] = value


def place_call(address: tuple[str, int], caller: MenuCaller, env: Mapping[str, str], *,
               timeout: float = 60.0) -> MenuCaller:
    """Dial the FastAGI server as Asterisk would and answer until it closes the call."""
    peer = AsteriskPeer(caller, env=env)  # type: ignore[arg-type]
    with socket.create_connection(address, timeout=timeout) as sock:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.sendall(env_block(env))
        reader = sock.makefile("rb")
        while raw := reader.readline():
            lines = peer.reply(raw.decode("utf-8", "replace").rstrip("\r\n"))
            try:
                sock.sendall("".join(f"{x}\n" for x in lines).encode())
            except OSError:
                break
    return caller


def through_fastagi(engine: Any, *calls: Any) -> Any:
    """Dial ``calls`` (fake Asterisk calls, each with ``run(address)``), one after another, into
    the engine's FastAGI server as ``ivr serve`` builds it; return the server once every session
    has ended (its ``on_call_end`` work done) and it is shut down."""
    from ivr.asterisk.wiring import fastagi_server

    server = fastagi_server(engine, ("127.0.0.1", 0))
    server.start()
    try:
        for call in calls:
            call.run(server.address)
        deadline = time.monotonic() + 5
        while server.active_calls and time.monotonic() < deadline:
            time.sleep(0.01)
    finally:
        server.shutdown(1.0)
    return server
