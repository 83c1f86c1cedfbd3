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

import json
import socket
import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from flask import Response, request

from ivr.console.hub import Event, Subscription


def frame(event: str, data: Any, event_id: str | None = None) -> bytes:
    head = f"id: {event_id}\n" if event_id else ""
    body = json.dumps(data, ensure_ascii=False, separators=(",", ":"))
    return f"{head}event: {event}\ndata: {body}\n\n".encode()


def pump(
    start: Callable[[], tuple[Subscription, Iterable[bytes]]],
    *,
    render: Callable[[Event], Iterable[bytes]],
    alive: Callable[[], bool],
    tick: Callable[[], Iterable[bytes]] | None = None,
    tick_every: float = 1.0,
    heartbeat: float = 15.0,
    max_seconds: float = 600.0,
) -> Iterator[bytes]:
    """Feed one page.  ``start`` subscribes and returns the first frames (computed after
    subscribing, so nothing between them and the live events is lost); it runs when the
    response is first read, so a response never read never subscribes."""
    sub, first = start()
    try:
        yield b"retry: 1000\n\n"
        yield from first
        now = time.monotonic()
        end, next_beat = now + max_seconds, now + heartbeat
        next_tick = now + tick_every if tick is not None else float("inf")
        while now < end:
            for event in sub.get(max(0.0, min(next_tick, next_beat, end) - now)):
                yield from render(event)
            if sub.overflowed:
                sub.overflowed = False
                yield frame("resync", {})
            now = time.monotonic()
            if tick is not None and now >= next_tick:
                yield from tick()
                next_tick = now + tick_every
            if now >= next_beat:
                if not alive():
                    yield frame("logout", {})
                    return
                yield b": keep-alive\n\n"
                next_beat = now + heartbeat
    finally:
        sub.close()


def sse_response(stream: Iterator[bytes]) -> Response:
    _no_delay()
    return Response(stream, mimetype="text/event-stream", headers={
        "Cache-Control": "no-store", "X-Accel-Buffering": "no"})


def _no_delay() -> None:
    """Send each frame at once: werkzeug writes one chunk in several small writes, which
    Nagle's algorithm may otherwise hold back until the browser acknowledges the first."""
    sock = request.environ.get("werkzeug.socket")
    if sock is not None:
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        except OSError:
            pass
