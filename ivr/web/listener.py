"""A listening socket that bounds open connections, per client address and in all.

Strategy: the event loop accepts connections by calling ``accept()`` on the listening
socket; this socket's ``accept()`` closes at once a connection over a limit (before a
byte of it is read: a flood costs an accept and a close each) and hands out the others
as :class:`CountedConnection`, whose ``close()`` (the transport closes its socket when
the connection ends) gives the place back.  Nothing else of asyncio or the HTTP server
is touched.
"""

from __future__ import annotations

import socket
import struct
import threading
from collections import Counter
from typing import Any


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
