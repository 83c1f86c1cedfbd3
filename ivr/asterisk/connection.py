"""One FastAGI socket on the event loop: bytes in, lines out, every wait under a deadline.

The loop reads whatever the peer sends as it comes (non-blocking, ``recv_into`` one
buffer shared by all connections: see :class:`ReceiveBuffer`) and cuts it into lines;
the call's coroutine takes them with :meth:`AgiConnection.read_line`, which waits at
most until a deadline.  Whatever goes wrong on the wire is kept and raised
as :class:`~ivr.asterisk.agi.AgiProtocolError` at the call's next read, after the lines
that came before it:

* a line longer than :data:`~ivr.asterisk.agi.MAX_LINE` (reading stops there);
* more than :data:`MAX_PENDING_LINES` lines nobody asked for (a flood: they are dropped);
* the peer closing or resetting the connection;
* no line before the deadline (a stalled peer; the connection is then done for).

The connection also drives its call's coroutine (:meth:`AgiConnection.run`), in place
of an asyncio Task: a coroutine waiting for a line is resumed right in
``data_received``, so a reply's next command goes out in the same turn of the loop,
with no Future, no scheduled callback and no timer per line.  (An asyncio Task costs
a Future, a ``call_soon`` and a timer for each line, and one more pass of the loop:
measured ~16 us a line on the benchmark machine, about as much as the rest of the
command.)  Deadlines share one timer per connection, re-armed only when it fires
early or a shorter deadline comes (after ``200 result=-1``).  Awaiting anything else
(an offloaded service call, a recognition: asyncio futures) works as in a Task.

Asterisk never closes a FastAGI socket itself: :meth:`AgiConnection.close` does, always.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import socket
from collections import deque
from collections.abc import Callable, Coroutine, Generator
from typing import Any, Generic, TypeVar

from ivr.asterisk.agi import MAX_LINE, AgiProtocolError

log = logging.getLogger(__name__)
MAX_PENDING_LINES = 512  # read but not yet asked for; a 520 usage reply is a few lines


class _Park:
    """Awaited by a coroutine that needs a line: its connection resumes it."""

    __slots__ = ()

    def __await__(self) -> Generator[_Park, None, None]:
        yield self


_PARK = _Park()
T = TypeVar("T")


class Offloaded(Generic[T]):
    """Work in a thread pool, awaited by a call: its connection resumes it when the work
    is done, in the loop's next turn (an asyncio future chained to the pool's would take
    two turns and three more objects)."""

    __slots__ = ("future",)

    def __init__(self, future: concurrent.futures.Future[T]) -> None:
        self.future = future

    def __await__(self) -> Generator[Offloaded[T], None, T]:
        if not self.future.done():
            yield self
        return self.future.result()


class ReceiveBuffer:
    """Where the loop reads sockets into, shared by every connection of one loop.

    A plain ``asyncio.Protocol`` gets a new ``bytes`` from ``sock.recv(262144)`` for
    every read: a 256 KiB allocation, above glibc's mmap threshold, so an mmap and an
    mremap/munmap per line received (measured: ~55-150 us for send+recv of one reply
    line against ~5 us with ``recv_into``).  A connection copies out what it was given
    before the loop reads the next socket, so one buffer serves them all.
    """

    def __init__(self, size: int = 65536) -> None:
        self.view = memoryview(bytearray(size))


class AgiConnection(asyncio.BufferedProtocol):
    """The transport side of one call; ``on_open`` is told when the socket is accepted."""

    def __init__(self, on_open: Callable[[AgiConnection], None], buffer: ReceiveBuffer | None = None) -> None:
        self._on_open = on_open
        self._recv = (buffer or ReceiveBuffer(MAX_LINE + 2)).view
        self.transport: asyncio.Transport | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._buf = bytearray()
        self._lines: deque[str] = deque()
        self._failure: AgiProtocolError | None = None  # raised once the lines before it are read
        self.closed = False  # the socket is gone (connection_lost ran)
        # the coroutine this connection drives
        self._coro: Coroutine[Any, Any, None] | None = None
        self._parked = False  # it waits in read_line/line_within
        self._deadline = 0.0  # ... until then (loop time)
        self._timer: asyncio.TimerHandle | None = None
        self._timer_at = 0.0
        self._future: asyncio.Future[Any] | Offloaded[Any] | None = None  # or on this
        self.finished: asyncio.Future[None] | None = None  # done when the coroutine has ended

    # -- asyncio.Protocol --------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        # asyncio sets TCP_NODELAY only on sockets made with proto=IPPROTO_TCP, and accepted
        # ones have proto 0: without it Nagle meets the peer's delayed ACK (~40 ms a command).
        sock = transport.get_extra_info("socket")
        if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._loop = asyncio.get_running_loop()
        self._on_open(self)

    def get_buffer(self, sizehint: int) -> memoryview:
        return self._recv

    def buffer_updated(self, nbytes: int) -> None:
        self.data_received(self._recv[:nbytes])

    def data_received(self, data: bytes | memoryview) -> None:
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
        if len(self._lines) > MAX_PENDING_LINES:  # junk: not replayed as replies
            self._lines.clear()
            self._fail(f"more than {MAX_PENDING_LINES} lines unasked for")
        if self._parked and (self._lines or self._failure is not None):
            self._step()

    def eof_received(self) -> bool:
        self._fail("the peer closed the connection")
        if self._parked:
            self._step()
        return False  # the transport closes itself

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self._fail(f"the connection failed: {exc}" if exc is not None else "the connection was closed")
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self._parked:
            self._step()

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
        assert self._loop is not None
        deadline = self._loop.time() + seconds
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
        self._fail("the connection was closed")
        if transport is None or self.closed or transport.is_closing():
            return
        if transport.get_write_buffer_size():
            transport.abort()
        else:
            transport.close()  # connection_lost follows, and resumes a parked coroutine

    # -- driving the coroutine ------------------------------------------------------------

    def run(self, coro: Coroutine[Any, Any, None]) -> asyncio.Future[None]:
        """Drive ``coro`` (the call) on this connection; the future is done when it ends."""
        assert self._loop is not None and self._coro is None
        self._coro = coro
        self.finished = self._loop.create_future()
        self._step()
        return self.finished

    def _step(self, _: object = None) -> None:
        coro = self._coro
        if coro is None:
            return
        self._parked = False
        self._future = None
        try:
            waits_on = coro.send(None)
        except (StopIteration, asyncio.CancelledError):  # ended, or cut at shutdown
            self._end()
            return
        except BaseException:  # the coroutines never raise; if one does, the call is over
            log.exception("call coroutine failed")
            self._end()
            return
        self._wait_on(waits_on)

    def _wait_on(self, waits_on: object) -> None:
        if waits_on is _PARK:
            self._parked = True
            self._arm()
        elif isinstance(waits_on, Offloaded):
            self._future = waits_on
            waits_on.future.add_done_callback(self._offload_done)
        elif asyncio.isfuture(waits_on):  # an asyncio future: as a Task would
            waits_on._asyncio_future_blocking = False
            waits_on.add_done_callback(self._step)
            self._future = waits_on
        else:
            assert self._coro is not None
            self._coro.close()
            self._end()
            raise RuntimeError(f"a call awaited {waits_on!r}: only lines, offloaded work, futures")

    def _offload_done(self, future: concurrent.futures.Future[Any]) -> None:
        """In the pool's thread: resume the coroutine on the loop, if it still waits for this."""
        loop = self._loop
        if loop is None or loop.is_closed():
            return
        try:
            loop.call_soon_threadsafe(self._resume_after, future)
        except RuntimeError:  # the loop closed meanwhile (shutdown gave up on this call)
            pass

    def _resume_after(self, future: concurrent.futures.Future[Any]) -> None:
        waits_on = self._future
        if isinstance(waits_on, Offloaded) and waits_on.future is future:
            self._step()

    def cancel(self) -> None:
        """Stop waiting on offloaded work (shutdown): the coroutine gets CancelledError there."""
        waits_on, coro = self._future, self._coro
        if isinstance(waits_on, asyncio.Future):
            waits_on.cancel()
        elif isinstance(waits_on, Offloaded) and coro is not None:
            self._future = None
            try:
                next_wait = coro.throw(asyncio.CancelledError())
            except BaseException:  # noqa: BLE001 - it ended, which is what we asked
                self._end()
                return
            self._wait_on(next_wait)  # e.g. recording the hang-up

    def _end(self) -> None:
        self._coro = None
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self.finished is not None and not self.finished.done():
            self.finished.set_result(None)

    def _arm(self) -> None:
        """One timer per connection, moved only when the deadline comes sooner."""
        assert self._loop is not None
        if self._timer is None or self._deadline < self._timer_at:
            if self._timer is not None:
                self._timer.cancel()
            self._timer = self._loop.call_at(self._deadline, self._on_timer)
            self._timer_at = self._deadline

    def _on_timer(self) -> None:
        assert self._loop is not None
        self._timer = None
        if not self._parked:
            return
        if self._loop.time() >= self._deadline:
            self._step()
        else:
            self._arm()

    # -- internals ---------------------------------------------------------------------

    async def _wait(self, deadline: float) -> bool:
        """Wait for data or a failure until ``deadline``; False when the deadline passed."""
        assert self._loop is not None
        if self._loop.time() >= deadline:
            return False
        self._deadline = deadline
        await _PARK
        return bool(self._lines) or self._failure is not None or self._loop.time() < deadline

    def _fail(self, why: str) -> None:
        if self._failure is None:
            self._failure = AgiProtocolError(why)
            if self.transport is not None and not self.transport.is_closing():
                self.transport.pause_reading()
