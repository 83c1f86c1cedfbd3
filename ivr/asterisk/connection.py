"""One FastAGI socket on the event loop: bytes in, lines out, every wait under a deadline.

:class:`AgiConnection` is the asyncio protocol of one call's socket.  The loop hands it
whatever the peer sends as it comes, and it cuts that into lines kept for the call; the
call itself is an ordinary asyncio Task (see :mod:`ivr.asterisk.server`) that takes them
with :meth:`AgiConnection.read_line`, awaiting a future the protocol completes when a
line or a failure comes, or its deadline passes.  Whatever goes wrong on the wire is kept
and raised as :class:`~ivr.asterisk.agi.AgiProtocolError` at the call's next read, after
the lines that came before it:

* a line longer than :data:`~ivr.asterisk.agi.MAX_LINE` (reading stops there);
* more than :data:`MAX_PENDING_LINES` lines nobody asked for (a flood: they are dropped);
* the peer closing or resetting the connection;
* no line before the deadline (a stalled peer; the connection is then done for).

Two choices keep a line's cost near what the hand-driven coroutines of before issue 19
cost (``bench/fastagi_line_cost.py``: CPU of the loop's thread per line, 200 connections
in ping-pong, on the 2-vCPU benchmark machine under load; 12-14 us a line for those):

* an :class:`asyncio.BufferedProtocol` reading into a buffer of :data:`RECEIVE_BYTES` made
  for each read, not a plain ``Protocol``: the selector transport gives a plain one a new
  ``bytes`` from ``recv(262144)`` per read, above glibc's mmap threshold, so an mmap and
  a munmap per line (a munmap in a process with threads on other vCPUs shoots down their
  TLBs);
* one deadline timer per connection (``loop.call_at``), moved only when a deadline comes
  sooner (after ``200 result=-1``) or when it fires early, rather than a timeout context
  per read (``asyncio.timeout_at`` makes and cancels a timer per line).

With both, 16-17 us a line; with neither (a plain Protocol and ``asyncio.timeout_at``),
38-40 us.

Asterisk never closes a FastAGI socket itself: :meth:`AgiConnection.close` does, always.
"""

from __future__ import annotations

import asyncio
import socket
from collections import deque
from collections.abc import Callable

from ivr.asterisk.agi import MAX_LINE, AgiProtocolError

MAX_PENDING_LINES = 512  # read but not yet asked for; a 520 usage reply is a few lines
RECEIVE_BYTES = MAX_LINE + 2  # at most this much a read: a whole line with its CRLF
# After a failure, what the peer still sends is read and dropped, up to this much, so that
# our close reaches it as an end of stream and not as a reset; beyond it reading stops.
DROP_AFTER_FAILURE = 65536


class AgiConnection(asyncio.BufferedProtocol):
    """The transport side of one call; ``on_open`` is told when the socket is accepted."""

    def __init__(self, on_open: Callable[[AgiConnection], None]) -> None:
        self._on_open = on_open
        self.transport: asyncio.Transport | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._received = bytearray()  # the buffer of the read in progress
        self._buf = bytearray()  # the start of a line not yet ended
        self._lines: deque[str] = deque()
        self._failure: AgiProtocolError | None = None  # raised once the lines before it are read
        self._dropped = 0  # bytes read and dropped since the failure
        self._waiter: asyncio.Future[None] | None = None  # the call waits for a line on it
        self._deadline = 0.0  # ... until then (loop time)
        self._timer: asyncio.TimerHandle | None = None
        self._timer_at = 0.0
        self.closed = False  # the socket is gone (connection_lost ran)
        self.peer_host = ""  # the peer's address, as the socket gives it ("127.0.0.1", "::1")

    # -- asyncio.BufferedProtocol ------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        self._loop = asyncio.get_running_loop()
        # asyncio sets TCP_NODELAY only on sockets made with proto=IPPROTO_TCP, and accepted
        # ones have proto 0: without it Nagle meets the peer's delayed ACK (~40 ms a command).
        peer = transport.get_extra_info("peername")
        self.peer_host = str(peer[0]) if isinstance(peer, tuple) and peer else ""
        sock = transport.get_extra_info("socket")
        if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._on_open(self)

    def get_buffer(self, sizehint: int) -> bytearray:
        # A new one each read (from the heap, freed once the read is cut into lines), so that
        # an idle call holds none; after a failure, large enough to drain the peer at once.
        self._received = bytearray(RECEIVE_BYTES if self._failure is None else DROP_AFTER_FAILURE)
        return self._received

    def buffer_updated(self, nbytes: int) -> None:
        received, self._received = self._received, bytearray()
        self.data_received(memoryview(received)[:nbytes])

    def data_received(self, data: bytes | memoryview) -> None:
        if self._failure is not None:
            self._drop(len(data))
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
        if len(self._lines) > MAX_PENDING_LINES:  # junk: not replayed as replies
            self._lines.clear()
            self._fail(f"more than {MAX_PENDING_LINES} lines unasked for")
        if self._lines:
            self._wake()

    def eof_received(self) -> bool:
        self._fail("the peer closed the connection")
        return False  # the transport closes itself

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self._fail(f"the connection failed: {exc}" if exc is not None else "the connection was closed")
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    # -- the call's side ------------------------------------------------------------------

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
        deadline = asyncio.get_running_loop().time() + seconds
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
        """Close the socket (data not yet sent is dropped: nothing waits on it).

        The close itself comes at the loop's next turn, after the reads of this one: a
        socket closed with bytes unread (the rest of an over-long line, a flood) would
        send the peer a reset instead of an end of stream.
        """
        transport = self.transport
        self._fail("the connection was closed")
        if transport is None or self.closed or transport.is_closing():
            return
        if transport.get_write_buffer_size():
            transport.abort()
        else:
            asyncio.get_running_loop().call_soon(transport.close)

    # -- internals ---------------------------------------------------------------------

    async def _wait(self, deadline: float) -> bool:
        """Wait for a line or a failure until ``deadline``; False when the deadline passed."""
        loop = asyncio.get_running_loop()
        if loop.time() >= deadline:
            return False
        if self._waiter is not None:
            raise RuntimeError("two readers on one FastAGI connection")
        self._waiter = waiter = loop.create_future()
        self._deadline = deadline
        self._arm(loop)
        try:
            await waiter
        finally:
            self._waiter = None
        return bool(self._lines) or self._failure is not None or loop.time() < deadline

    def _arm(self, loop: asyncio.AbstractEventLoop) -> None:
        """One timer per connection, moved only when the deadline comes sooner."""
        if self._timer is None or self._deadline < self._timer_at:
            if self._timer is not None:
                self._timer.cancel()
            self._timer = loop.call_at(self._deadline, self._on_timer)
            self._timer_at = self._deadline

    def _on_timer(self) -> None:
        self._timer = None
        waiter, loop = self._waiter, self._loop
        if waiter is None or waiter.done() or loop is None:
            return  # nobody waits: the next wait arms it again
        if loop.time() >= self._deadline:
            waiter.set_result(None)
        else:
            self._arm(loop)  # set for an earlier wait's later deadline

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def _drop(self, nbytes: int) -> None:
        self._dropped += nbytes
        transport = self.transport
        if self._dropped > DROP_AFTER_FAILURE and transport is not None and not transport.is_closing():
            transport.pause_reading()

    def _fail(self, why: str) -> None:
        if self._failure is None:
            self._failure = AgiProtocolError(why)
            self._drop(len(self._buf))
            self._buf.clear()
        self._wake()
