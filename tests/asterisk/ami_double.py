"""A scriptable AMI server on loopback: Asterisk 22's wire format, replies chosen by the test.

    ami = AmiDouble(reply=lambda action: None)        # None: "Response: Success"
    client = AmiClient(*ami.address, username="ivr-engine", secret="s3cret")
    ami.actions   -> every action received, as parsed fields (Login first)
    ami.event({"Event": "Hangup", ...})               # an event to the connected client

``reply(action)`` may return an error message instead (sent as ``Response: Error`` with
that ``Message:``, the way Asterisk refuses, e.g. ``No such channel``), or :data:`SILENT`
(no answer at all: the client's timeout).  Each connection is served in its own thread
(the engine and a test's second client may both be logged in); ``event`` goes to the last,
and ``drop()`` cuts it as an Asterisk restart does.  With ``secret`` a Login with another
one is refused (``Authentication failed``); ``logins`` counts them all.  An action's
``Variable:`` lines (Originate sends several; ``actions`` keeps the last) are all in
``variables``, at the action's index.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable

from ivr.asterisk.ami import parse_message

Reply = Callable[[dict[str, str]], "str | None"]
SILENT = "\x00silent"  # reply(): send nothing


class AmiDouble:
    def __init__(self, *, reply: Reply | None = None, secret: str | None = None) -> None:
        self.reply = reply or (lambda action: None)
        self.secret = secret
        self.logins = 0
        self.actions: list[dict[str, str]] = []
        self.variables: list[list[str]] = []
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.address: tuple[str, int] = self.sock.getsockname()[:2]
        self.conn: socket.socket | None = None
        self.conns: list[socket.socket] = []
        self._lock = threading.Lock()
        threading.Thread(target=self._serve, name="ami-double", daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.conn = conn
            self.conns.append(conn)
            threading.Thread(target=self._session, args=(conn,), name="ami-double-session", daemon=True).start()

    def _send(self, conn: socket.socket, text: str) -> None:
        with self._lock:
            conn.sendall(text.encode())

    def _session(self, conn: socket.socket) -> None:
        self._send(conn, "Asterisk Call Manager/9.0.0\r\n")
        buf = b""
        while True:
            try:
                chunk = conn.recv(4096)
            except OSError:
                break
            if not chunk:
                break
            buf += chunk
            while b"\r\n\r\n" in buf:
                block, buf = buf.split(b"\r\n\r\n", 1)
                text = block.decode()
                action = parse_message(text)
                self.variables.append([line[10:] for line in text.split("\r\n") if line.startswith("Variable: ")])
                self.actions.append(action)
                aid = action.get("ActionID", "")
                error = self._login(action) if action.get("Action") == "Login" else self.reply(action)
                if error == SILENT:
                    continue
                if error is None:
                    self._send(conn, f"Response: Success\r\nActionID: {aid}\r\nMessage: {self._ok(action)}\r\n\r\n")
                else:
                    self._send(conn, f"Response: Error\r\nActionID: {aid}\r\nMessage: {error}\r\n\r\n")
        conn.close()

    def _login(self, action: dict[str, str]) -> str | None:
        self.logins += 1
        return None if self.secret in (None, action.get("Secret")) else "Authentication failed"

    @staticmethod
    def _ok(action: dict[str, str]) -> str:
        return {"Login": "Authentication accepted", "Originate": "Originate successfully queued",
                "Hangup": "Channel Hungup"}.get(action.get("Action", ""), "Result will follow")

    def event(self, fields: dict[str, str]) -> None:
        assert self.conn is not None, "no client connected"
        self._send(self.conn, "".join(f"{k}: {v}\r\n" for k, v in fields.items()) + "\r\n")

    def drop(self) -> None:
        """Asterisk restarting: the last connection goes (the port still accepts until ``close()``)."""
        assert self.conn is not None, "no client connected"
        self.conn.shutdown(socket.SHUT_RDWR)
        self.conn.close()

    def named(self, name: str) -> list[dict[str, str]]:
        return [a for a in self.actions if a.get("Action") == name]

    def close(self) -> None:
        self.sock.close()
        for conn in self.conns:
            conn.close()
