"""One reader of the routing event stream per process, fanned out to every open console.

Strategy: a console page holds a Server-Sent Events connection; each one would otherwise
hold its own blocking ``XREAD`` (a Redis connection per browser).  Instead one thread per
process reads the stream (``XREAD BLOCK``, so an event arrives within a round trip) and
puts each event into the queue of every subscriber whose filter takes it.  The thread runs
while anyone is subscribed and stops when the last one leaves.

A subscriber that reconnects passes the id of the last event it saw (SSE
``Last-Event-ID``): it is registered first, then gets the backlog after that id straight
from the stream, and live events already in the backlog are skipped by id, so nothing is
lost and nothing is shown twice.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from typing import Any, Self

from routing.engine import Router

log = logging.getLogger(__name__)
Event = tuple[str, dict[str, str]]
Filter = Callable[[dict[str, str]], bool]
QUEUE_SIZE = 2000


def id_key(event_id: str) -> tuple[int, int]:
    ms, _, seq = event_id.partition("-")
    return int(ms), int(seq or 0)


class Subscription:
    def __init__(self, hub: EventHub, wants: Filter) -> None:
        self.hub = hub
        self.wants = wants
        self.queue: queue.Queue[Event] = queue.Queue(QUEUE_SIZE)
        self.overflowed = False
        self.last: tuple[int, int] = (0, 0)
        # Told after each event is queued (from the hub's thread): an event-loop stream
        # wakes on it instead of holding a thread in ``get``.
        self.waker: Callable[[], object] | None = None

    def put(self, event: Event) -> None:
        try:
            self.queue.put_nowait(event)
        except queue.Full:
            self.overflowed = True
        if self.waker is not None:
            self.waker()

    def get(self, timeout: float) -> list[Event]:
        """Events that arrived, waiting up to ``timeout`` for the first (0: none); never one seen before."""
        out: list[Event] = []
        try:
            out.append(self.queue.get(timeout=timeout) if timeout > 0 else self.queue.get_nowait())
            while len(out) < 500:
                out.append(self.queue.get_nowait())
        except queue.Empty:
            pass
        fresh = [ev for ev in out if id_key(ev[0]) > self.last]
        if fresh:
            self.last = id_key(fresh[-1][0])
        return fresh

    def backlog(self, since: str) -> list[Event]:
        """Events after ``since`` still in the stream (for a reconnecting page)."""
        events: list[Event] = []
        cursor = since
        while len(events) < 5000:
            batch = self.hub.router.events(cursor, count=500)
            if not batch:
                break
            events.extend(ev for ev in batch if self.wants(ev[1]))
            cursor = batch[-1][0]
        if events:
            self.last = id_key(events[-1][0])
        else:
            self.last = max(self.last, id_key(since))
        return events

    def close(self) -> None:
        self.hub.unsubscribe(self)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class EventHub:
    def __init__(self, *, router: Router, block_ms: int = 1000) -> None:
        self.router = router
        self.block_ms = block_ms
        self._lock = threading.Lock()
        self._subs: set[Subscription] = set()
        self._thread: threading.Thread | None = None
        self._last = "$"

    def subscribe(self, wants: Filter) -> Subscription:
        sub = Subscription(self, wants)
        with self._lock:
            self._subs.add(sub)
            if self._thread is None:
                self._last = self._stream_end()
                self._thread = threading.Thread(target=self._run, name="console-events", daemon=True)
                self._thread.start()
        return sub

    def unsubscribe(self, sub: Subscription) -> None:
        with self._lock:
            self._subs.discard(sub)

    @property
    def subscribers(self) -> int:
        with self._lock:
            return len(self._subs)

    def _stream_end(self) -> str:
        newest = self.router.redis.xrevrange(self.router.keys.events, count=1)
        if not newest:
            return "0-0"
        eid = newest[0][0]
        return eid.decode() if isinstance(eid, bytes) else str(eid)

    def _run(self) -> None:
        while True:
            with self._lock:
                if not self._subs:
                    self._thread = None
                    return
            try:
                events = self.router.events(self._last, count=500, block_ms=self.block_ms)
            except Exception:  # Redis away: the pages keep their heartbeat
                log.exception("reading the routing events failed; retrying in a second")
                time.sleep(1.0)
                continue
            with self._lock:
                subs = list(self._subs)  # after the read: a page that just subscribed gets these too
            for event in events:
                for sub in subs:
                    try:
                        if sub.wants(event[1]):
                            sub.put(event)
                    except Exception:  # one bad filter must not stop the others
                        log.exception("console event filter failed")
            if events:
                self._last = events[-1][0]


def event_id_ms(event_id: str) -> int:
    return id_key(event_id)[0]


def any_event(_: dict[str, Any]) -> bool:
    return True
