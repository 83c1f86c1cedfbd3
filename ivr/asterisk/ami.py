"""A small AMI (Asterisk Manager Interface) client: what AGI cannot do.

Callbacks are placed with ``Originate`` (the operator is rung first, then the citizen:
see ``dialplans/asterisk/extensions.conf``, contexts ``hotline-callback``), and
``Hangup``/``BridgeEnter`` events tell the engine what became of calls.

AMI wire format: ``Key: Value`` lines ended by ``\\r\\n``, a message ended by an empty
line; the server greets with ``Asterisk Call Manager/<version>``.  One reader thread
splits messages; responses are matched to actions by ``ActionID``.
"""

from __future__ import annotations

import itertools
import queue
import socket
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass

Message = dict[str, str]


class AmiError(Exception):
    def __init__(self, message: str, response: Message | None = None) -> None:
        super().__init__(message)
        self.response = response


def format_action(action: str, fields: Mapping[str, str], variables: Mapping[str, str] = {}) -> bytes:
    lines = [f"Action: {action}"]
    for key, value in fields.items():
        if "\r" in value or "\n" in value:
            raise ValueError(f"AMI field {key} cannot contain a line break")
        lines.append(f"{key}: {value}")
    lines += [f"Variable: {k}={v}" for k, v in variables.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def parse_message(block: str) -> Message:
    msg: Message = {}
    for line in block.split("\r\n"):
        key, sep, value = line.partition(":")
        if sep:
            msg[key.strip()] = value.strip()
    return msg


@dataclass(frozen=True)
class CallbackCall:
    """What the routing engine hands over to place one callback."""

    callback_id: str
    number: str  # the citizen's number, +7...
    operator_endpoint: str  # PJSIP/op101
    appeal: str = ""


class AmiClient:
    def __init__(self, host: str = "127.0.0.1", port: int = 5038, *, username: str, secret: str,
                 timeout: float = 10.0, on_event: Callable[[Message], None] | None = None) -> None:
        self.timeout = timeout
        self.on_event = on_event
        self.events: queue.Queue[Message] = queue.Queue(maxsize=10000)
        self._ids = itertools.count(1)
        self._waiting: dict[str, queue.Queue[Message]] = {}
        self._lock = threading.Lock()
        self._sock = socket.create_connection((host, port), timeout=timeout)
        self._file = self._sock.makefile("rb")
        self.banner = self._file.readline().decode("utf-8", "replace").strip()
        if not self.banner.startswith("Asterisk Call Manager"):
            self.close()
            raise AmiError(f"not an AMI server: {self.banner!r}")
        self._sock.settimeout(None)
        self._reader = threading.Thread(target=self._read_loop, name="ami-reader", daemon=True)
        self._reader.start()
        try:
            self.action("Login", {"Username": username, "Secret": secret, "Events": "call"})
        except AmiError:
            self.close()
            raise

    def _read_loop(self) -> None:
        block: list[str] = []
        try:
            for raw in self._file:
                line = raw.decode("utf-8", "replace").rstrip("\r\n")
                if line:
                    block.append(line)
                    continue
                if block:
                    self._dispatch(parse_message("\r\n".join(block)))
                    block = []
        except (OSError, ValueError):
            pass
        with self._lock:
            for waiter in self._waiting.values():
                waiter.put({"Response": "Error", "Message": "connection closed"})

    def _dispatch(self, msg: Message) -> None:
        action_id = msg.get("ActionID", "")
        if "Response" in msg:
            with self._lock:
                waiter = self._waiting.get(action_id)
            if waiter is not None:
                waiter.put(msg)
                return
        if "Event" in msg:
            if self.on_event is not None:
                self.on_event(msg)
            try:
                self.events.put_nowait(msg)
            except queue.Full:
                pass

    def action(self, name: str, fields: Mapping[str, str], variables: Mapping[str, str] = {}) -> Message:
        """Send an action and wait for its response; raise AmiError on ``Response: Error``."""
        action_id = f"ivr-{next(self._ids)}"
        waiter: queue.Queue[Message] = queue.Queue(maxsize=1)
        with self._lock:
            self._waiting[action_id] = waiter
        try:
            self._sock.sendall(format_action(name, {**fields, "ActionID": action_id}, variables))
            try:
                response = waiter.get(timeout=self.timeout)
            except queue.Empty:
                raise AmiError(f"no response to {name} within {self.timeout} s") from None
        finally:
            with self._lock:
                self._waiting.pop(action_id, None)
        if response.get("Response") != "Success":
            raise AmiError(f"{name} failed: {response.get('Message', '')}", response)
        return response

    def originate_callback(self, call: CallbackCall, *, channel_id: str = "") -> Message:
        """Ring the operator; when they answer, the dialplan dials the citizen (async).

        ``channel_id`` becomes the ``Uniqueid`` of the ``;1`` half, the leg that dials the
        citizen: its ``OriginateResponse``, ``DialEnd`` and ``Hangup`` events carry it.
        """
        fields = {"Channel": "Local/callback@hotline-callback", "Context": "hotline-callback-operator",
                  "Exten": "s", "Priority": "1", "Async": "true", "Timeout": "30000",
                  "CallerID": "Hotline <88005553535>"}
        if channel_id:
            fields["ChannelId"] = channel_id
        return self.action(
            "Originate",
            fields,
            {"IVR_CALLBACK_ID": call.callback_id, "IVR_CALLBACK_NUMBER": call.number.lstrip("+"),
             "IVR_OPERATOR_ENDPOINT": call.operator_endpoint, "IVR_APPEAL": call.appeal},
        )

    def close(self) -> None:
        try:
            self._sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self._sock.close()
        self._file.close()
