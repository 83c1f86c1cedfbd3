"""A small synchronous Asterisk Manager Interface (AMI) client for tests.

One reader thread splits the TCP stream into messages; responses are matched to
actions by ActionID, everything else is queued as an event.
"""

from __future__ import annotations

import itertools
import queue
import socket
import threading
import time
from collections.abc import Callable
from typing import Self

Message = dict[str, str]


class AmiError(RuntimeError):
    pass


def parse_message(block: str) -> Message:
    msg: Message = {}
    for line in block.split("\r\n"):
        key, sep, value = line.partition(":")
        if sep:
            msg[key.strip()] = value.strip()
    return msg


class AmiClient:
    def __init__(self, host: str = "127.0.0.1", port: int = 5038, timeout: float = 10.0) -> None:
        self._sock = socket.create_connection((host, port), timeout=timeout)
        self._sock.settimeout(None)
        self._ids = itertools.count(1)
        self._responses: dict[str, queue.Queue[Message]] = {}
        self._lock = threading.Lock()
        self.events: queue.Queue[Message] = queue.Queue()
        self.banner = self._read_banner()
        self._reader = threading.Thread(target=self._read_loop, name="ami-reader", daemon=True)
        self._reader.start()

    def _read_banner(self) -> str:
        data = b""
        while not data.endswith(b"\r\n"):
            chunk = self._sock.recv(1)
            if not chunk:
                raise AmiError("AMI closed the connection before the banner")
            data += chunk
        return data.decode().strip()

    def _read_loop(self) -> None:
        buf = ""
        try:
            while True:
                chunk = self._sock.recv(65536)
                if not chunk:
                    break
                buf += chunk.decode("utf-8", "replace")
                while "\r\n\r\n" in buf:
                    block, buf = buf.split("\r\n\r\n", 1)
                    self._dispatch(parse_message(block))
        except OSError:
            pass
        self.events.put({"Event": "__closed__"})

    def _dispatch(self, msg: Message) -> None:
        action_id = msg.get("ActionID")
        if "Response" in msg and action_id is not None:
            with self._lock:
                box = self._responses.get(action_id)
            if box is not None:
                box.put(msg)
                return
        self.events.put(msg)

    def action(self, name: str, timeout: float = 10.0, **fields: str | list[str]) -> Message:
        """Send an action and return its (first) response; raise AmiError on Response: Error."""
        action_id = f"ivr-{next(self._ids)}"
        box: queue.Queue[Message] = queue.Queue()
        with self._lock:
            self._responses[action_id] = box
        lines = [f"Action: {name}", f"ActionID: {action_id}"]
        for key, value in fields.items():
            for item in value if isinstance(value, list) else [value]:
                lines.append(f"{key}: {item}")
        self._sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        try:
            response = box.get(timeout=timeout)
        except queue.Empty:
            raise AmiError(f"no response to {name} within {timeout} s") from None
        finally:
            with self._lock:
                self._responses.pop(action_id, None)
        if response.get("Response") == "Error":
            raise AmiError(f"{name} failed: {response.get('Message', response)}")
        return response

    def login(self, username: str, secret: str) -> None:
        self.action("Login", Username=username, Secret=secret, Events="on")

    def originate_local(
        self,
        caller: str,
        context: str,
        exten: str,
        variables: dict[str, str] | None = None,
        callerid: str = '"Test caller" <79990000001>',
        timeout: float = 15.0,
    ) -> Message:
        """Originate Local/<caller> and send its ;1 half to context/exten/1 (async)."""
        return self.action(
            "Originate",
            Channel=f"Local/{caller}",
            Context=context,
            Exten=exten,
            Priority="1",
            CallerID=callerid,
            Timeout=str(int(timeout * 1000)),
            Async="true",
            Variable=[f"{k}={v}" for k, v in (variables or {}).items()],
        )

    def wait_event(self, predicate: Callable[[Message], bool], timeout: float = 10.0) -> Message:
        """Return the first queued event matching predicate; others are discarded."""
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AmiError("timed out waiting for an AMI event")
            try:
                event = self.events.get(timeout=remaining)
            except queue.Empty:
                continue
            if event.get("Event") == "__closed__":
                raise AmiError("AMI connection closed while waiting for an event")
            if predicate(event):
                return event

    def close(self) -> None:
        try:
            self.action("Logoff", timeout=2.0)
        except (AmiError, OSError):
            pass
        try:
            self._sock.close()
        except OSError:
            pass

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
