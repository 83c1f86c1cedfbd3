"""A listening socket that bounds open connections, per client address and in all.

Strategy: the event loop accepts connections by calling ``accept()`` on the listening
socket; this socket's ``accept()`` closes at once a connection over a limit (before a
byte of it is read: a flood costs an accept and a close each) and hands out the others
as :class:`CountedConnection`, whose ``close()`` (the transport closes its socket when
the connection ends) gives the place back.  Nothing else of asyncio or the HTTP server
is touched.

A client that closes its end (``recv`` reads end of file) has left: its address gets its
place back at once.  Hypercorn (0.18) closes such an idle keep-alive connection only when
its idle timer fires (``http.header_timeout``), so without this every short connection a
client closed counted against its address for 10 s: 256 in 10 s from one address (a
monitor, or nginx for every console user) and the next were reset.  Until the socket is
closed its place still counts against ``total`` (it holds a file descriptor).
"""

from __future__ import annotations

import socket
import struct
import threading
from collections import Counter
from typing import Any

# Where connections whose client has left are counted until closed (never a client address).
LEFT = "(left)"


class ConnectionLimits:
    """Open connections, counted by client address."""

    def __init__(self, *, per_client: int, total: int) -> None:
        self.per_client = per_client
        self.total = total
        self._open: Counter[str] = Counter()
        self._lock = threading.Lock()
        self.refused = 0

    def take(self, address: str) -> bool:
        with self._lock:
            if self._open[address] >= self.per_client or self._open.total() >= self.total:
                self.refused += 1
                return False
            self._open[address] += 1
            return True

    def peer_left(self, address: str) -> None:
        """The client closed its end: its address's place is free; the total's waits for close."""
        with self._lock:
            self._open[address] -= 1
            if self._open[address] <= 0:
                del self._open[address]
            self._open[LEFT] += 1

    def give_back(self, address: str) -> None:
        with self._lock:
            self._open[address] -= 1
            if self._open[address] <= 0:
                del self._open[address]

    def open_from(self, address: str) -> int:
        with self._lock:
            return self._open[address]


class CountedConnection(socket.socket):
    """An accepted connection that gives its place back when closed (once)."""

    limits: ConnectionLimits | None = None
    address = ""

    def close(self) -> None:
        limits, self.limits = self.limits, None
        if limits is not None:
            limits.give_back(self.address)
        super().close()

    def recv(self, bufsize: int, flags: int = 0) -> bytes:
        data = super().recv(bufsize, flags)
        if not data and bufsize:
            self._peer_left()
        return data

    def recv_into(self, buffer: Any, nbytes: int = 0, flags: int = 0) -> int:
        n = super().recv_into(buffer, nbytes, flags)
        if n == 0 and (nbytes or len(buffer)):
            self._peer_left()
        return n

    def _peer_left(self) -> None:
        if self.limits is not None and self.address != LEFT:
            self.limits.peer_left(self.address)
            self.address = LEFT

    def detach(self) -> int:
        limits, self.limits = self.limits, None
        if limits is not None:
            limits.give_back(self.address)
        return super().detach()


class LimitedListener(socket.socket):
    """A TCP listening socket whose accepted connections are counted in ``limits``."""

    limits: ConnectionLimits

    def accept(self) -> tuple[socket.socket, Any]:
        while True:  # ends with a connection, or BlockingIOError when none is waiting
            fd, addr = self._accept()  # type: ignore[attr-defined]
            conn = CountedConnection(self.family, self.type, self.proto, fileno=fd)
            if socket.getdefaulttimeout() is None and self.gettimeout():
                conn.setblocking(True)
            if self.limits.take(addr[0]):
                conn.limits, conn.address = self.limits, addr[0]
                # A reply goes out in several writes (head, body, end).  asyncio sets this on
                # the connections of its own servers only (it checks for proto IPPROTO_TCP,
                # which a socket made from a bare fd does not carry): without it the kernel
                # holds each later write until the client acknowledges the first, and the
                # client delays that by 40 ms, on every request after a keep-alive
                # connection's first (Twilio's, a console's).
                conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                return conn, addr
            try:
                conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            except OSError:
                pass
            conn.close()  # over the limit: a reset, nothing read


def listen(host: str, port: int, limits: ConnectionLimits, *, backlog: int = 1024,
           reuse_port: bool = False) -> LimitedListener:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = LimitedListener(family, socket.SOCK_STREAM)
    sock.limits = limits
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if reuse_port:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((host, port))
    sock.listen(backlog)
    sock.setblocking(False)
    return sock
