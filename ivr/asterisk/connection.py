"""One FastAGI socket on the event loop: bytes in, lines out, every wait under a deadline.

The loop reads whatever the peer sends as it comes (non-blocking) and cuts it into
lines; the call's coroutine takes them with :meth:`AgiConnection.read_line`, which
waits at most until a deadline.  Whatever goes wrong on the wire is kept and raised
as :class:`~ivr.asterisk.agi.AgiProtocolError` at the call's next read, after the lines
that came before it:

* a line longer than :data:`~ivr.asterisk.agi.MAX_LINE` (reading stops there);
* more than :data:`MAX_PENDING_LINES` lines nobody asked for (a flood);
* the peer closing or resetting the connection;
* no line before the deadline (a stalled peer).

Asterisk never closes a FastAGI socket itself: :meth:`AgiConnection.close` does, always.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Callable

from ivr.asterisk.agi import MAX_LINE, AgiProtocolError

log = logging.getLogger(__name__)
MAX_PENDING_LINES = 512  # read but not yet asked for; a 520 usage reply is a few lines


class AgiConnection(asyncio.Protocol):
    """The transport side of one call; ``on_open`` is told when the socket is accepted."""

    def __init__(self, on_open: Callable[[AgiConnection], None]) -> None:
        self._on_open = on_open
        self.transport: asyncio.Transport | None = None
        self._buf = bytearray()
        self._lines: deque[str] = deque()
        self._failure: AgiProtocolError | None = None  # raised once the lines before it are read
        self._waiter: asyncio.Future[bool] | None = None
        self.closed = False  # the socket is gone (connection_lost ran)

    # -- asyncio.Protocol --------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        self._on_open(self)

    def data_received(self, data: bytes) -> None:
        if self._failure is not None:
            return
        buf = self._buf
        buf += data
        start = 0
        while (end := buf.find(b"\n", start)) >= 0:
            if end - start > MAX_LINE:
                self._fail(f"line longer than {MAX_LINE} characters")
                break
            self._lines.append(buf[start:end].decode("utf-8", "replace").rstrip("\r"))
            start = end + 1
        else:
            if len(buf) - start > MAX_LINE:
                self._fail(f"line longer than {MAX_LINE} characters")
        del buf[:start]
        if len(self._lines) > MAX_PENDING_LINES:
            self._fail(f"more than {MAX_PENDING_LINES} lines unasked for")
        self._wake()

    def eof_received(self) -> bool:
        self._fail("the peer closed the connection")
        return False  # the transport closes itself

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if exc is not None:
            self._fail(f"the connection failed: {exc}")
        else:
            self._fail("the connection was closed")
        self._wake()

    # -- the call's side ------------------------------------------------------------------

    def has_line(self) -> bool:
        return bool(self._lines)

    async def read_line(self, deadline: float) -> str:
        """The next line; AgiProtocolError when the wire failed or ``deadline`` (loop time) passed."""
        while not self._lines:
            if self._failure is not None:
                raise self._failure
            if not await self._wait(deadline):
                self._fail("the peer stalled: no line before the deadline")
        return self._lines.popleft()

    async def line_within(self, seconds: float) -> bool:
        """Is a line available within ``seconds``?  (False too when the wire failed.)"""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + seconds
        while not self._lines:
            if self._failure is not None or not await self._wait(deadline):
                return False
        return True

    def write(self, line: str) -> None:
        if self._failure is not None:  # nothing more will be read: no point in asking
            raise self._failure
        if self.transport is None or self.transport.is_closing():
            raise AgiProtocolError("the connection was closed")
        self.transport.write(line.encode("utf-8") + b"\n")

    def close(self) -> None:
        """Close the socket now (data not yet sent is dropped: nothing waits on it)."""
        transport = self.transport
        if transport is None or self.closed:
            return
        if transport.get_write_buffer_size():
            transport.abort()
        else:
            transport.close()
        self._fail("the connection was closed")
        self._wake()

    # -- internals ---------------------------------------------------------------------

    def _fail(self, why: str) -> None:
        if self._failure is None:
            self._failure = AgiProtocolError(why)
            if self.transport is not None and not self.transport.is_closing():
                self.transport.pause_reading()

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(True)

    async def _wait(self, deadline: float) -> bool:
        """Wait for data or a failure until ``deadline``; False when the deadline passed."""
        loop = asyncio.get_running_loop()
        left = deadline - loop.time()
        if left <= 0:
            return False
        waiter: asyncio.Future[bool] = loop.create_future()
        self._waiter = waiter
        timer = loop.call_at(deadline, _expire, waiter)
        try:
            return await waiter
        finally:
            timer.cancel()
            self._waiter = None


def _expire(waiter: asyncio.Future[bool]) -> None:
    if not waiter.done():
        waiter.set_result(False)
