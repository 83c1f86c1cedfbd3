"""An AMI server on loopback that answers ``MixMonitorMute`` as Asterisk 22 does, and the
engine's :class:`~ivr.asterisk.control.AsteriskControl` over a real :class:`AmiClient` to it.

What the real Asterisk 22 answers (tests/integration/test_recording_pause_asterisk.py runs
the real one)::

    Action: MixMonitorMute          Response: Success
    Channel: PJSIP/trunk-00000001   ActionID: ivr-3
    Direction: both
    State: 1                        (no such channel: Response: Error / Message: No such channel;
    ActionID: ivr-3                  no MixMonitor on it: Message: Cannot set mute flag)

``answer`` says what this one does: ``success``, ``no_channel``, ``no_mixmonitor`` or
``silent`` (no answer at all: the client's timeout).  ``actions`` keeps every action received.
"""

from __future__ import annotations

import socket
import threading
from typing import Literal

from ivr.asterisk.ami import AmiClient, parse_message
from ivr.asterisk.control import AsteriskControl
from ivr.engine import Engine

Answer = Literal["success", "no_channel", "no_mixmonitor", "silent"]
ERRORS = {"no_channel": "No such channel", "no_mixmonitor": "Cannot set mute flag"}


class MuteAmi:
    def __init__(self) -> None:
        self.answer: Answer = "success"
        self.actions: list[dict[str, str]] = []
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.address = self.sock.getsockname()
        self.conns: list[socket.socket] = []
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.conns.append(conn)
            threading.Thread(target=self._session, args=(conn,), daemon=True).start()

    def _session(self, conn: socket.socket) -> None:
        conn.sendall(b"Asterisk Call Manager/9.0.0\r\n")
        buf = b""
        while True:
            try:
                chunk = conn.recv(4096)
            except OSError:
                return
            if not chunk:
                return
            buf += chunk
            while b"\r\n\r\n" in buf:
                block, buf = buf.split(b"\r\n\r\n", 1)
                msg = parse_message(block.decode())
                self.actions.append(msg)
                aid = msg.get("ActionID", "")
                if msg.get("Action") == "Login":
                    conn.sendall(f"Response: Success\r\nActionID: {aid}\r\nMessage: Authentication accepted\r\n\r\n"
                                 .encode())
                elif self.answer == "success":
                    conn.sendall(f"Response: Success\r\nActionID: {aid}\r\n\r\n".encode())
                elif self.answer in ERRORS:
                    conn.sendall(f"Response: Error\r\nActionID: {aid}\r\nMessage: {ERRORS[self.answer]}\r\n\r\n"
                                 .encode())

    def mutes(self) -> list[tuple[str, str, str]]:
        return [(a["Channel"], a["Direction"], a["State"]) for a in self.actions
                if a.get("Action") == "MixMonitorMute"]

    def close(self) -> None:
        self.sock.close()
        for conn in self.conns:
            conn.close()


def asterisk_control(engine: Engine, ami: MuteAmi, *, timeout: float = 2.0) -> AmiClient:
    """The engine acts on Asterisk calls through this AMI (as ``ami_services`` wires it)."""
    client = AmiClient(*ami.address, username="ivr-engine", secret="x", timeout=timeout)
    engine.live_controls["asterisk"] = AsteriskControl(ami=client)
    return client
