"""A tiny FastAGI server that records every line exchanged with Asterisk.

Transcript format (one line each, in real arrival/send order):
    << text     a line Asterisk sent us      (`<< ` alone: the blank line ending the env)
    >> text     a line we sent
    # text      a note from the recorder (not part of the protocol)
"""

from __future__ import annotations

import queue
import re
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

# A reply's final line: "200 result=...", "510 ...", "511 ...", "520 End of proper usage."
FINAL_REPLY = re.compile(r"^\d{3}( |$)")
EOF_MARK = "\x00eof"


@dataclass
class AgiSession:
    sock: socket.socket
    lines: list[str] = field(default_factory=list)  # the transcript
    env: dict[str, str] = field(default_factory=dict)
    hangup_seen: bool = False
    closed_by_asterisk: bool = False
    closing: bool = False  # we are closing: stop noting what the reader sees
    _incoming: queue.Queue[str] = field(default_factory=queue.Queue)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def start_reader(self) -> None:
        threading.Thread(target=self._read_loop, name="agi-reader", daemon=True).start()

    def _log(self, line: str) -> None:
        with self._lock:
            self.lines.append(line)

    def note(self, text: str) -> None:
        self._log(f"# {text}")

    def _read_loop(self) -> None:
        buf = b""
        try:
            while True:
                chunk = self.sock.recv(4096)
                if not chunk:
                    break
                buf += chunk
                while b"\n" in buf:
                    raw, buf = buf.split(b"\n", 1)
                    line = raw.decode("utf-8", "replace").rstrip("\r")
                    self._log(f"<< {line}")
                    if line == "HANGUP":
                        self.hangup_seen = True
                    self._incoming.put(line)
        except OSError as exc:
            if not self.closing:
                self.note(f"read error: {exc!r}")
        else:
            if not self.closing:
                self.note("EOF: Asterisk closed the socket")
        if not self.closing:
            self.closed_by_asterisk = True
        self._incoming.put(EOF_MARK)

    def _next_line(self, timeout: float) -> str:
        try:
            return self._incoming.get(timeout=timeout)
        except queue.Empty:
            raise TimeoutError(f"no line from Asterisk within {timeout} s") from None

    def read_env(self, timeout: float = 10.0) -> dict[str, str]:
        while True:
            line = self._next_line(timeout)
            if line in ("", EOF_MARK):
                return self.env
            key, _, value = line.partition(": ")
            self.env[key] = value

    def send(self, line: str) -> None:
        self._log(f">> {line}")
        self.sock.sendall((line + "\n").encode())

    def command(self, line: str, timeout: float = 60.0) -> list[str]:
        """Send one AGI command and return its reply lines (async HANGUP lines excluded).

        Returns [] if Asterisk closed the socket instead of replying (or before we sent).
        """
        if self.closed_by_asterisk:
            return []
        try:
            self.send(line)
        except OSError as exc:
            self.note(f"send failed: {exc!r}")
            return []
        reply: list[str] = []
        while True:
            got = self._next_line(timeout)
            if got == EOF_MARK:
                self._incoming.put(EOF_MARK)  # keep EOF visible to later reads
                return reply
            if got == "HANGUP" and not reply:
                continue
            reply.append(got)
            if FINAL_REPLY.match(got):
                return reply

    def settle(self, seconds: float) -> None:
        """Let asynchronous lines (e.g. HANGUP) arrive and be logged."""
        time.sleep(seconds)

    def wait_for_close(self, timeout: float) -> bool:
        """Wait up to timeout for Asterisk to close the socket; True if it did."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                if self._next_line(deadline - time.monotonic()) == EOF_MARK:
                    self._incoming.put(EOF_MARK)
                    return True
            except TimeoutError:
                break
        return self.closed_by_asterisk

    def transcript(self) -> str:
        with self._lock:
            return "\n".join(self.lines) + "\n"


Script = Callable[[AgiSession], None]


class RecordingAgiServer:
    """FastAGI server on 127.0.0.1:<free port>; one thread per connection.

    `scripts` maps the AGI URL path (agi://127.0.0.1:PORT/<name>) to a function that
    drives the session.  After the script returns, the server waits `close_wait`
    seconds to see whether Asterisk closes the socket, notes the outcome, and closes.
    """

    def __init__(self, scripts: dict[str, Script] | None = None, close_wait: float = 2.0) -> None:
        self.scripts: dict[str, Script] = dict(scripts or {})
        self.close_wait = close_wait
        self.close_waits: dict[str, float] = {}
        self.sessions: queue.Queue[tuple[str, AgiSession]] = queue.Queue()
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port: int = self._listener.getsockname()[1]
        self._thread = threading.Thread(target=self._accept_loop, name="agi-accept", daemon=True)
        self._thread.start()

    def register(self, name: str, script: Script, close_wait: float | None = None) -> None:
        self.scripts[name] = script
        if close_wait is not None:
            self.close_waits[name] = close_wait

    def url(self, name: str) -> str:
        return f"agi://127.0.0.1:{self.port}/{name}"

    def _accept_loop(self) -> None:
        while True:
            try:
                conn, _ = self._listener.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        session = AgiSession(conn)
        session.start_reader()
        name = "?"
        try:
            session.read_env()
            name = session.env.get("agi_network_script", "?")
            script = self.scripts.get(name)
            if script is None:
                session.note(f"no script named {name!r}")
            else:
                script(session)
            close_wait = self.close_waits.get(name, self.close_wait)
            if session.wait_for_close(close_wait):
                pass  # the reader noted the EOF where it happened
            else:
                session.note(f"socket still open {close_wait:.0f} s after our last line; "
                             "we close it")
        except Exception as exc:  # noqa: BLE001 - recorded in the transcript, surfaced by the test
            session.note(f"recorder error: {exc!r}")
        finally:
            session.closing = True
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            conn.close()
            self.sessions.put((name, session))

    def wait_session(self, name: str, timeout: float = 60.0) -> AgiSession:
        deadline = time.monotonic() + timeout
        while True:
            try:
                got, session = self.sessions.get(timeout=max(0.01, deadline - time.monotonic()))
            except queue.Empty:
                raise TimeoutError(f"no finished AGI session {name!r} in {timeout} s") from None
            if got == name:
                return session

    def close(self) -> None:
        self._listener.close()
