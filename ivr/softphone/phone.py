"""The softphone's side of its line: answers when the engine rings (:mod:`.wire`).

:class:`SoftphoneLine` listens on a loopback port of its own for as long as ``ivr call``
runs; its :attr:`contact` goes into the AGI environment of each call, so the engine knows
where to ring back.  A ring becomes a ``ring`` press on the keypad (the person decides);
a ring while a call is in progress is answered ``BUSY`` at once.  ``MISSED`` (the operator
a call was handed to did not answer) becomes a ``missed`` press: the call in progress
dials in again (:func:`ivr.asterisk.softphone.run_softphone`); a ``MISSED`` for a call that
is not in progress (the caller hung up while the operator's phone rang) is answered
``HANGUP``.
"""

from __future__ import annotations

import contextlib
import select
import socket
import threading
from dataclasses import dataclass

from ivr.asterisk.keypad import Keypad, Press
from ivr.softphone import wire

RING_READ_SECONDS = 5.0


@dataclass(frozen=True)
class Ringing:
    callback_id: str
    seconds: int


class SoftphoneLine:
    def __init__(self, *, keypad: Keypad, host: str = "127.0.0.1") -> None:
        self.keypad = keypad
        self._server = socket.create_server((host, 0))
        bound_host, bound_port = self._server.getsockname()[:2]
        self.contact = f"{bound_host}:{bound_port}"
        self.busy = False  # in a call: a ring is answered BUSY
        self.call_id = ""  # the call in progress: a MISSED for any other is answered HANGUP
        self._lock = threading.Lock()
        self._ringing: tuple[socket.socket, Ringing] | None = None
        self._talking: socket.socket | None = None

    def start(self) -> SoftphoneLine:
        threading.Thread(target=self._accept, name="softphone-line", daemon=True).start()
        return self

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self._server.accept()
            except OSError:
                return  # closed
            threading.Thread(target=self._incoming, args=(conn,), daemon=True).start()

    def _incoming(self, conn: socket.socket) -> None:
        try:
            conn.settimeout(RING_READ_SECONDS)
            message = wire.parse(conn.makefile("rb").readline(wire.MAX_LINE + 2))
        except (OSError, wire.LineError):
            conn.close()
            return
        if message.verb == "ANSWERED":  # the operator took our call: the person is told
            conn.close()
            if self.busy and message.call_id == self.call_id:
                self.keypad.put(Press("answered", f"{message.call_id} {message.operator}"))
            return
        if message.verb == "MISSED":
            ours = self.busy and message.call_id == self.call_id
            if not ours:  # the caller has hung up: the engine takes the call out of line
                with contextlib.suppress(OSError):
                    conn.sendall(wire.say("HANGUP"))
            conn.close()
            if ours:
                self.keypad.put(Press("missed", f"{message.call_id} {message.operator}"))
            return
        with self._lock:
            free = message.verb == "RING" and not self.busy and self._ringing is None and self._talking is None
            if free:
                self._ringing = (conn, Ringing(message.callback_id, message.seconds))
        if not free:
            with contextlib.suppress(OSError):
                conn.sendall(wire.say("BUSY"))
            conn.close()
            return
        self.keypad.put(Press("ring", message.callback_id))

    @property
    def ringing(self) -> Ringing | None:
        with self._lock:
            return self._ringing[1] if self._ringing else None

    def answer(self) -> bool:
        """Pick up; False when the engine stopped ringing meanwhile (a missed call)."""
        conn = self._take_ringing()
        if conn is None:
            return False
        if _closed_by_peer(conn):
            conn.close()
            return False
        try:
            conn.sendall(wire.say("ANSWER"))
        except OSError:
            conn.close()
            return False
        conn.settimeout(None)
        with self._lock:
            self._talking = conn
        return True

    def reject(self) -> None:
        conn = self._take_ringing()
        if conn is not None:
            with contextlib.suppress(OSError):
                conn.sendall(wire.say("REJECT"))
            conn.close()

    def hang_up(self) -> None:
        with self._lock:
            conn, self._talking = self._talking, None
        if conn is not None:
            with contextlib.suppress(OSError):
                conn.sendall(wire.say("HANGUP"))
            conn.close()

    def _take_ringing(self) -> socket.socket | None:
        with self._lock:
            ringing, self._ringing = self._ringing, None
        return ringing[0] if ringing else None

    def close(self) -> None:
        self.reject()
        self.hang_up()
        self._server.close()


def _closed_by_peer(conn: socket.socket) -> bool:
    readable, _, _ = select.select([conn], [], [], 0)
    if not readable:
        return False
    try:
        return conn.recv(1, socket.MSG_PEEK) == b""
    except OSError:
        return True
