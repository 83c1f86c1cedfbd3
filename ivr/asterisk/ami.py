"""A small AMI (Asterisk Manager Interface) client: what AGI cannot do.

Callbacks are placed with ``Originate`` (the operator is rung first, then the citizen:
see ``dialplans/asterisk/extensions.conf``, contexts ``hotline-callback``), and
``Hangup``/``BridgeEnter`` events tell the engine what became of calls.

AMI wire format: ``Key: Value`` lines ended by ``\\r\\n``, a message ended by an empty
line; the server greets with ``Asterisk Call Manager/<version>``.  One reader thread
splits messages; responses are matched to actions by ``ActionID``.

Asterisk restarts, and AMI connections drop with it.  The reader thread then logs in
again, with backoff (0.5 s doubling to 10 s), for as long as the client is open; while
it is out, actions fail at once with :class:`AmiError` (a callback then keeps its place in
line: its operator's reservation runs out and it is offered again), and ``on_reconnect``
runs once it is back.
"""

from __future__ import annotations

import itertools
import logging
import queue
import socket
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import BinaryIO

Message = dict[str, str]

log = logging.getLogger("ivr.asterisk.ami")

RECONNECT_FIRST, RECONNECT_MOST = 0.5, 10.0  # seconds between attempts: doubling, capped


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


def asterisk_addresses(host: str, connected_to: str) -> frozenset[str]:
    """The addresses the AMI's Asterisk may have as a FastAGI peer: the one connected to and
    all that ``host`` resolves to, each also as an IPv4-mapped IPv6 address (a server on
    ``::`` sees ``::ffff:10.0.0.5``)."""
    found = {connected_to}
    try:
        found |= {str(info[4][0]) for info in socket.getaddrinfo(host, None, type=socket.SOCK_STREAM)}
    except OSError:
        pass
    return frozenset(found | {f"::ffff:{a}" for a in found if "." in a and ":" not in a})


class AmiClient:
    def __init__(self, host: str = "127.0.0.1", port: int = 5038, *, username: str, secret: str,
                 timeout: float = 10.0, on_event: Callable[[Message], None] | None = None,
                 on_reconnect: Callable[[], None] | None = None) -> None:
        """Connect and log in; :class:`AmiError` (or ``OSError``) if that fails now."""
        self.timeout = timeout
        self.on_event = on_event
        self.on_reconnect = on_reconnect
        # Events go to on_event; only a client without one keeps them here for its caller
        # (a long-running engine must not fill a queue nobody reads).
        self.events: queue.Queue[Message] = queue.Queue(maxsize=10000 if on_event is None else 1)
        self.reconnects = 0
        self._address = (host, port)
        # call: DialEnd, Hangup ...; user: the dialplan's UserEvents ([operator-consult])
        self._login = {"Username": username, "Secret": secret, "Events": "call,user"}
        self._ids = itertools.count(1)
        self._waiting: dict[str, queue.Queue[Message]] = {}
        self._lock = threading.Lock()
        self._closed = threading.Event()
        self._connected = threading.Event()
        self._delay = RECONNECT_FIRST  # until the next reconnect attempt; doubles, reset by a login
        self._sock, self._file = self._open()
        self.hosts = asterisk_addresses(host, self._sock.getpeername()[0])
        self._reader = threading.Thread(target=self._read_loop, name="ami-reader", daemon=True)
        self._reader.start()
        try:
            self._log_in()
        except AmiError:
            self.close()
            raise

    @property
    def connected(self) -> bool:
        return self._connected.is_set()

    def _open(self) -> tuple[socket.socket, BinaryIO]:
        sock = socket.create_connection(self._address, timeout=self.timeout)
        file = sock.makefile("rb")
        try:
            self.banner = file.readline().decode("utf-8", "replace").strip()
        except OSError:
            sock.close()
            raise
        if not self.banner.startswith("Asterisk Call Manager"):
            sock.close()
            raise AmiError(f"not an AMI server: {self.banner!r}")
        sock.settimeout(None)
        return sock, file

    def _log_in(self) -> None:
        self._connected.set()  # the socket is up: Login may be sent
        try:
            self.action("Login", self._login)
        except AmiError:
            self._connected.clear()
            raise

    def _read_loop(self) -> None:
        while not self._closed.is_set():
            self._read_messages()
            self._connected.clear()
            with self._lock:
                for waiter in self._waiting.values():
                    waiter.put({"Response": "Error", "Message": "connection closed"})
            if not self._closed.is_set():
                self._reconnect()

    def _read_messages(self) -> None:
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

    def _reconnect(self) -> None:
        """Until the client is closed: connect, log in, and read again (from this thread)."""
        log.warning("AMI connection to %s:%d lost; reconnecting", *self._address)
        while not self._closed.wait(self._delay):
            self._delay = min(self._delay * 2, RECONNECT_MOST)
            try:
                self._sock, self._file = self._open()
            except (OSError, AmiError) as exc:
                log.info("AMI reconnect failed: %s", exc)
                continue
            # Login's response is read by this thread: send it from another one.
            login = threading.Thread(target=self._after_reconnect, name="ami-login", daemon=True)
            login.start()
            return

    def _after_reconnect(self) -> None:
        try:
            self._log_in()
        except AmiError as exc:
            log.error("AMI login after reconnect refused: %s", exc)
            self._drop()  # the reader sees the socket close and tries again later
            return
        self.reconnects += 1
        self._delay = RECONNECT_FIRST
        log.warning("AMI reconnected to %s:%d", *self._address)
        if self.on_reconnect is not None:
            try:
                self.on_reconnect()
            except Exception:
                log.exception("AMI on_reconnect failed")

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
                return
            try:
                self.events.put_nowait(msg)
            except queue.Full:
                pass

    def action(self, name: str, fields: Mapping[str, str], variables: Mapping[str, str] = {}) -> Message:
        """Send an action and wait for its response; raise AmiError on ``Response: Error``."""
        if not self._connected.is_set():
            raise AmiError(f"{name}: not connected to AMI (reconnecting)")
        action_id = f"ivr-{next(self._ids)}"
        waiter: queue.Queue[Message] = queue.Queue(maxsize=1)
        with self._lock:
            self._waiting[action_id] = waiter
        try:
            try:
                self._sock.sendall(format_action(name, {**fields, "ActionID": action_id}, variables))
            except OSError as exc:
                raise AmiError(f"{name}: AMI connection failed: {exc}") from exc
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
        """Log off for good: no more reconnecting."""
        self._closed.set()
        self._drop()

    def _drop(self) -> None:
        try:
            self._sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self._sock.close()
        self._file.close()
