"""Server-Sent Events: the frames, and the loop that feeds one open page.

    retry: 1000                      the browser reconnects after a second
    id: 1795312804123-0              the routing event id (Last-Event-ID on reconnect)
    event: pop
    data: {"call_id": "...", ...}

A comment line every ``heartbeat`` seconds keeps proxies from closing an idle stream
and finds closed pages (the write fails); at each heartbeat ``alive()`` is asked too
(the session still exists), and a stream ends after ``max_seconds`` so the browser
reconnects and is authenticated afresh.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Iterator
from typing import Any, Protocol, TypeVar

from flask import Response, request

from ivr.console.hub import Event, Subscription

T = TypeVar("T")
STREAM_KEY = "ivr.event_stream"


class Runner(Protocol):
    """Calls ``work`` in a worker thread, from a coroutine."""

    def __call__(self, work: Callable[[], T], /) -> Awaitable[T]: ...


def frame(event: str, data: Any, event_id: str | None = None) -> bytes:
    head = f"id: {event_id}\n" if event_id else ""
    body = json.dumps(data, ensure_ascii=False, separators=(",", ":"))
    return f"{head}event: {event}\ndata: {body}\n\n".encode()


class EventStream:
    """Feed one page.  ``start`` subscribes and returns the first frames (computed after
    subscribing, so nothing between them and the live events is lost); it runs when the
    stream is first read, so a response never read never subscribes.

    Two ways to run it: iterated (any WSGI server: a thread waits in the subscription
    between events), or :meth:`frames` on an event loop (:mod:`ivr.web.front`): the stream
    waits on the loop and borrows a thread only to render what arrived (``run``).
    """

    def __init__(
        self,
        start: Callable[[], tuple[Subscription, Iterable[bytes]]],
        *,
        render: Callable[[Event], Iterable[bytes]],
        alive: Callable[[], bool],
        tick: Callable[[], Iterable[bytes]] | None = None,
        tick_every: float = 1.0,
        heartbeat: float = 15.0,
        max_seconds: float = 600.0,
    ) -> None:
        self.start = start
        self.render = render
        self.alive = alive
        self.tick = tick
        self.tick_every = tick_every
        self.heartbeat = heartbeat
        self.max_seconds = max_seconds
        self._end = self._next_beat = self._next_tick = 0.0
        self.done = False

    def _open(self) -> tuple[Subscription, bytes]:
        sub, first = self.start()
        now = time.monotonic()
        self._end, self._next_beat = now + self.max_seconds, now + self.heartbeat
        self._next_tick = now + self.tick_every if self.tick is not None else float("inf")
        return sub, b"retry: 1000\n\n" + b"".join(first)

    def _wait(self) -> float:
        """Seconds until the next thing due without an event (tick, heartbeat, the end)."""
        return max(0.0, min(self._next_tick, self._next_beat, self._end) - time.monotonic())

    def _step(self, sub: Subscription, timeout: float) -> bytes:
        """One turn: the events that arrived (waiting up to ``timeout`` for them), then
        whatever is due.  Sets ``done`` when the stream ends."""
        out = [chunk for event in sub.get(timeout) for chunk in self.render(event)]
        if sub.overflowed:
            sub.overflowed = False
            out.append(frame("resync", {}))
        now = time.monotonic()
        if self.tick is not None and now >= self._next_tick:
            out.extend(self.tick())
            self._next_tick = now + self.tick_every
        if now >= self._next_beat:
            if not self.alive():
                out.append(frame("logout", {}))
                self.done = True
                return b"".join(out)
            out.append(b": keep-alive\n\n")
            self._next_beat = now + self.heartbeat
        self.done = now >= self._end
        return b"".join(out)

    def __iter__(self) -> Iterator[bytes]:
        sub, first = self._open()
        try:
            yield first
            while not self.done:
                chunk = self._step(sub, self._wait())
                if chunk:
                    yield chunk
        finally:
            sub.close()

    async def frames(self, run: Runner) -> AsyncIterator[bytes]:
        """The same frames, waiting on the running event loop; ``run`` calls a function in
        a worker thread (everything that reads Redis)."""
        loop = asyncio.get_running_loop()
        woken = asyncio.Event()
        sub, first = await run(self._open)
        sub.waker = lambda: loop.call_soon_threadsafe(woken.set)
        try:
            yield first
            while not self.done:
                if sub.queue.empty():
                    try:
                        await asyncio.wait_for(woken.wait(), self._wait())
                    except TimeoutError:
                        pass
                woken.clear()
                chunk = await run(lambda: self._step(sub, 0.0))
                if chunk:
                    yield chunk
        finally:
            sub.waker = None
            await run(sub.close)


def sse_response(stream: EventStream) -> Response:
    """The response for any WSGI server; the HTTP front (:mod:`ivr.web.front`) finds the
    stream in the environ and serves it on its event loop instead."""
    request.environ[STREAM_KEY] = stream
    return Response(iter(stream), mimetype="text/event-stream", headers={
        "Cache-Control": "no-store", "X-Accel-Buffering": "no"})
