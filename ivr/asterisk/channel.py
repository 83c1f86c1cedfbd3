"""One FastAGI connection: line I/O on the socket and typed AGI commands over pyst2.

This is the only module that turns pyst2's character results into values:
``stream_file() == ''`` becomes ``None`` (played to the end), ``record_file() == '\\x00'``
becomes ``Recording(ended="timeout")``, and so on (see :mod:`ivr.asterisk.pyst`).
Every call waits on the socket with a deadline: a peer that stalls is dropped with
:class:`~ivr.asterisk.agi.AgiProtocolError`, it never blocks another call.
"""

from __future__ import annotations

import logging
import select
import socket
import struct
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from asterisk.agi import AGIAppError, AGIError

from ivr.asterisk.agi import (
    MAX_LINE,
    AgiCommandFailed,
    AgiError,
    AgiProtocolError,
    EnvReader,
)
from ivr.asterisk.pyst import HotlineAgi

log = logging.getLogger(__name__)
ESCAPE_ALL = "0123456789*#"


@dataclass(frozen=True)
class Recording:
    """How a RECORD FILE ended: ``200 result=35 (dtmf) endpos=0`` -> ended="dtmf", key="#"."""

    ended: Literal["dtmf", "timeout", "silence"]
    key: str = ""
    endpos: int | None = None


class _SocketText:
    """The text stream pyst2 writes commands to (it calls ``write(str)`` and ``flush()``)."""

    def __init__(self, sock: socket.socket) -> None:
        self._sock = sock

    def write(self, text: str) -> int:
        self._sock.sendall(text.encode("utf-8"))
        return len(text)

    def flush(self) -> None:
        pass


class LineSocket:
    """Lines from a socket, each under a deadline, none longer than ``MAX_LINE``."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self._buf = bytearray()
        self.timeout = 10.0  # seconds the next line may take

    def read_line(self) -> str:
        deadline = time.monotonic() + self.timeout
        while True:
            end = self._buf.find(b"\n")
            if end >= 0:
                raw = bytes(self._buf[:end])
                del self._buf[: end + 1]
                if len(raw) > MAX_LINE:
                    raise AgiProtocolError(f"line longer than {MAX_LINE} characters")
                return raw.decode("utf-8", "replace").rstrip("\r")
            if len(self._buf) > MAX_LINE:
                raise AgiProtocolError(f"line longer than {MAX_LINE} characters")
            left = deadline - time.monotonic()
            if left <= 0:
                raise AgiProtocolError("the peer stalled: no line before the deadline")
            self._recv(left)

    def line_within(self, seconds: float) -> bool:
        """Is a whole line available within ``seconds``? (Reads ahead, never past a line.)"""
        deadline = time.monotonic() + seconds
        while b"\n" not in self._buf:
            left = deadline - time.monotonic()
            if left <= 0 or len(self._buf) > MAX_LINE:
                return False
            if not select.select([self.sock], [], [], left)[0]:
                return False
            self._recv(left)
        return True

    def _recv(self, left: float) -> None:
        # A blocking socket with the kernel's SO_RCVTIMEO rather than Python's socket
        # timeout: one system call (one GIL release) per read instead of poll + recv.
        # With 1,000 call threads the GIL hand-offs are what costs (see server.py).
        whole = int(left)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO,
                             struct.pack("ll", whole, max(1, int((left - whole) * 1e6))))
        try:
            chunk = self.sock.recv(65536)
        except (BlockingIOError, TimeoutError):
            raise AgiProtocolError("the peer stalled: no line before the deadline") from None
        except OSError as exc:
            raise AgiProtocolError(f"the connection failed: {exc}") from None
        if not chunk:
            raise AgiProtocolError("the peer closed the connection")
        self._buf += chunk


class AgiChannel:
    """The engine's side of one FastAGI connection (Asterisk is the peer)."""

    def __init__(
        self,
        sock: socket.socket,
        *,
        env_timeout: float = 10.0,
        reply_grace: float = 30.0,
        trace: Callable[[str, str], None] | None = None,
    ) -> None:
        self.sock = sock
        self.reply_grace = reply_grace  # seconds a reply may take beyond the command's own time
        sock.settimeout(None)  # blocking; deadlines via SO_RCVTIMEO (LineSocket)
        self.lines = LineSocket(sock)
        self.lines.timeout = env_timeout
        self._trace = trace
        self.env = self._read_env()
        self.agi = HotlineAgi(read_line=self.lines.read_line, line_within=self.lines.line_within,
                              writer=_SocketText(sock), env=self.env, on_line=trace)

    def _read_env(self) -> dict[str, str]:
        reader = EnvReader()
        while True:
            line = self.lines.read_line()
            if self._trace is not None:
                self._trace("<<", line)
            if reader.feed(line):
                return reader.env

    def _run(self, seconds: float, call: Callable[[], object]) -> object:
        self.lines.timeout = seconds + self.reply_grace
        try:
            return call()
        except AgiError:
            raise
        except (AGIAppError, AGIError) as exc:  # pyst2's own checks (e.g. EXEC result=-2)
            raise AgiCommandFailed(str(exc), self.agi.last_reply) from None
        except (OSError, ValueError) as exc:
            raise AgiProtocolError(f"the connection failed: {exc}") from None

    @property
    def hung_up(self) -> bool:
        return self.agi.replies.hangup_seen

    # -- typed commands ------------------------------------------------------------------

    def answer(self) -> None:
        self._run(0, self.agi.answer)

    def stream_file(self, path: str, escape: str = "", *, expect: float = 60.0) -> str | None:
        """Play a file; the key that interrupted it, or None (played, or the file is missing).

        ``200 result=0 endpos=8023`` -> None; ``200 result=53 endpos=9760`` -> "5";
        ``200 result=-1 endpos=0`` with no HANGUP (missing file) -> None, logged.
        """
        try:
            key = self._run(expect, lambda: self.agi.stream_file(path, escape))
        except AgiCommandFailed:
            log.warning("prompt %s could not be played", path)
            return None
        return str(key) or None

    def wait_for_digit(self, ms: int) -> str | None:
        """``200 result=55`` -> "7"; ``200 result=0`` (timeout) -> None."""
        key = self._run(ms / 1000, lambda: self.agi.wait_for_digit(ms))
        return str(key) or None

    def say_digits(self, digits: str, escape: str = "") -> str | None:
        key = self._run(len(digits) + 5, lambda: self.agi.say_digits(digits, escape))
        return str(key) or None

    def say_number(self, number: int, escape: str = "") -> str | None:
        key = self._run(10, lambda: self.agi.say_number(number, escape))
        return str(key) or None

    def record_file(
        self, path: str, *, fmt: str = "wav", escape: str = "#", max_seconds: float, silence: float = 2.0
    ) -> Recording:
        """Record the caller.  pyst2 returns ``chr(result)``; the reply tells how it ended:

        ``200 result=35 (dtmf) endpos=0``      -> Recording("dtmf", "#")
        ``200 result=0 (timeout) endpos=0``    -> Recording("timeout")  (pyst2: '\\x00')
        ``200 result=5329 (timeout) endpos=8160`` -> Recording("silence") (pyst2: chr(5329))
        """
        ms = int(max_seconds * 1000)
        self._run(
            max_seconds,
            lambda: self.agi.record_file(path, fmt, escape, ms, 0, "BEEP", int(silence)),
        )
        reply = self.agi.last_reply
        assert reply is not None
        if reply.data == "dtmf":
            return Recording("dtmf", reply.key, reply.endpos)
        number = reply.number or 0
        return Recording("silence" if number > 0 else "timeout", "", reply.endpos)

    def set_variable(self, name: str, value: str) -> None:
        self._run(0, lambda: self.agi.set_variable(name, value))

    def exec(self, application: str, options: str = "", *, expect: float = 10.0) -> str:
        """``EXEC StartMusicOnHold default`` -> "0"; ``200 result=-2`` (no such app) raises."""
        return str(self._run(expect, lambda: self.agi.appexec(application, options)))

    def hangup(self) -> None:
        self._run(0, self.agi.hangup)

    def close(self) -> None:
        """Close the connection: Asterisk never closes a FastAGI socket itself."""
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.sock.close()
