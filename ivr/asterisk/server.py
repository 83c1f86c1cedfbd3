"""The FastAGI server: one event loop for every call, a listening socket with a deep backlog.

Strategy: a call is a long conversation of small steps (a prompt, a key, a wait in
queue), each a line out and a line back, with the engine thinking for about a tenth
of a millisecond in between.  So:

* One asyncio event loop, in one thread, owns every socket: the listening one
  (``backlog`` 1,024) and each call's, non-blocking, its bytes cut into lines capped at
  ``MAX_LINE`` by the call's protocol (:mod:`ivr.asterisk.connection`).  Beyond
  ``max_calls`` a call is handed back ``IVR_STATUS=busy``; beyond ``MAX_REFUSING``
  refusals at once it is just closed.  Before that, :mod:`ivr.asterisk.admission`
  decides whether a connection may take a slot at all: the allow-list of Asterisk hosts,
  the caps per peer address, and under pressure from connections that never send their
  environment, a shorter deadline for it and the oldest of them dropped to make room.
* Each call is an asyncio Task running :func:`ivr.asterisk.session.run_session`: woken
  when its reply line is read, it runs the engine step and the mapping of actions to AGI
  commands inline, and writes the next command.  Every wait has a deadline (the
  environment block within ``env_timeout``; a reply within the command's own time plus
  ``reply_grace``), so a stalled peer costs one timer and is dropped at its deadline.
* pyst2 stays the command layer without a thread: each command runs through pyst2
  twice in memory, a dry run that formats it and a replay that parses its reply
  (:mod:`ivr.asterisk.pyst`, "Two passes").
* Only what blocks leaves the loop, each to its own small thread pool: building a
  call and the engine's service calls (``service_workers``), because they go to Redis
  and take far longer than a step -- ``bench/service_calls_bench.py`` on loopback Redis
  (PING ~0.1 ms): enqueue ~5-12 ms p50 (a few Lua scripts), a queue poll ~0.5 ms p50
  and several ms p99, and up to ~10 s of retries when Redis fails over; inline, each
  would stall every call in progress.  Speech recognition
  (``speech_workers``) waits seconds on the Vosk pool.  The call awaits the pool's
  work with ``loop.run_in_executor``.  A pool thread does cost the
  call it serves: it must win the GIL back from a busy loop after each Redis round
  trip (up to ``sys.getswitchinterval()``, 5 ms), so under load the commands that
  follow a service call are the slow tail.

Why: one thread per call (the previous design) spent its time in GIL hand-offs between
~1,000 runnable threads (perf: futex waits and wakes): on the benchmark it used both
cores at 1,000 calls and still fell behind (p50 in the tens to hundreds of ms, p99
seconds), with 50-90 KiB of RSS a call.  This loop serves the same 1,000 calls on about
half a core (~115 us of CPU a command) with 10-18 KiB a call, its own work p99 under
2 ms.  The collector's pauses were the rest of the tail at 1,000 calls (several a
second at CPython's default thresholds); ``ivr serve`` makes them rare
(:func:`ivr.serve.settle_interpreter`).  What is left -- a loop serving a burst of ready sockets
in turn, a shared CPU -- is measured in BENCHMARKS.md, "FastAGI".

Wiring (composition root)::

    server = FastAgiServer(
        *settings.engine.fastagi,                   # ("127.0.0.1", 4573)
        call_factory=lambda env: CallSetup(
            runner=CallRunner(menu=menus.for_number(env.get("agi_extension")),
                              services=services, clock=time.time),
            appeal=services.allocate_appeal(),
            recognise=None if no_model else recognise,
        ),
        max_calls=settings.engine.max_calls,
    )
    server.start()                                  # the event loop, in its own thread
    ...
    server.shutdown(settings.engine.drain_seconds)  # on SIGTERM/SIGINT, from any thread
"""

from __future__ import annotations

import asyncio
import logging
import socket
import threading
import time
from collections.abc import Awaitable, Callable, Coroutine
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Self, TypeVar

from ivr.asterisk.admission import Admission, AdmissionSettings
from ivr.asterisk.agi import AgiError
from ivr.asterisk.channel import read_env
from ivr.asterisk.connection import AgiConnection
from ivr.asterisk.media import inline
from ivr.asterisk.session import CallFactory, SessionResult, SessionSettings, run_session
from ivr.asterisk.wakes import HoldWakes

# After the drain, how long calls get to reach their next step and be handed back: a call
# on hold is in one WAIT FOR DIGIT of its enqueue node's poll_seconds (default 5), which
# nothing on the engine's side can cut short without AMI (with it, the holds are cut short).
HANDBACK_SECONDS = 7.0
log = logging.getLogger(__name__)
MAX_REFUSING = 64  # refusals in progress at once; beyond this a surplus call is just closed
REFUSAL_SECONDS = 2.0  # a refused call's env block and the reply to "busy" must come this fast
T = TypeVar("T")


class FastAgiServer:
    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 4573,
        *,
        call_factory: CallFactory,
        max_calls: int = 2000,
        backlog: int = 1024,
        settings: SessionSettings | None = None,
        clock: Callable[[], float] = time.time,
        on_call_end: Callable[[SessionResult], None] | None = None,
        service_workers: int = 4,
        speech_workers: int = 8,
        admission: AdmissionSettings | None = None,
        wakes: HoldWakes | None = None,
    ) -> None:
        """``service_workers=0`` runs the engine's service calls inline on the loop (only
        for services that never block, e.g. an in-memory world).  ``on_call_end`` runs on the
        loop after the socket is closed: it must not block (count, note for later).
        ``wakes``: holds cut short on routing's news (:mod:`ivr.asterisk.wakes`; with AMI)."""
        self.wakes = wakes
        self.call_factory = call_factory
        self.max_calls = max_calls
        self.backlog = backlog
        self.settings = settings or SessionSettings()
        self.clock = clock
        self.on_call_end = on_call_end
        self.handback = threading.Event()  # set: calls go back to the dialplan at their next step
        self._services = (ThreadPoolExecutor(service_workers, thread_name_prefix="fastagi-service")
                          if service_workers > 0 else None)
        self._speech = ThreadPoolExecutor(max(1, speech_workers), thread_name_prefix="fastagi-speech")
        self._calls: dict[AgiConnection, asyncio.Task[None]] = {}
        self._refusing: dict[AgiConnection, asyncio.Task[None]] = {}  # busy, or dropped for room
        self.admission: Admission[AgiConnection] = Admission(admission or AdmissionSettings(),
                                                             max_calls=max_calls)
        self._sock = socket.create_server((host, port), backlog=backlog, reuse_port=False)
        self.address: tuple[str, int] = self._sock.getsockname()[:2]
        self._loop: asyncio.AbstractEventLoop | None = None
        self._server: asyncio.Server | None = None
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._stopping = False
        self._stopped = False
        self.calls_served = 0
        self.calls_refused = 0

    # -- running -------------------------------------------------------------------------

    @property
    def active_calls(self) -> int:
        return len(self._calls)  # read from any thread: a dict's len is atomic

    def start(self) -> threading.Thread:
        """Run the event loop in a (non-daemon) thread; returns once it accepts calls."""
        self._thread = threading.Thread(target=self.serve_forever, name="fastagi-loop")
        self._thread.start()
        self._ready.wait()
        return self._thread

    def serve_forever(self) -> None:
        """Run the event loop in this thread until :meth:`shutdown`."""
        self._thread = self._thread or threading.current_thread()
        loop = asyncio.new_event_loop()
        try:
            loop.run_until_complete(self._listen(loop))
            self._ready.set()
            loop.run_forever()
        finally:
            self._ready.set()
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.close()

    async def _listen(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._server = await loop.create_server(lambda: AgiConnection(self._accepted),
                                                sock=self._sock, backlog=self.backlog)

    def _accepted(self, conn: AgiConnection) -> None:
        host, now = conn.peer_host, time.monotonic()
        why = self.admission.refusal(host)
        if why is not None and self.admission.should_log(host, now):
            log.warning("FastAGI connection from %s refused: %s; further ones from it are counted "
                        "(ivr_agi_connections_refused), not logged, for a minute", host,
                        "not in asterisk.allowed_hosts" if why == "not_allowed" else "over asterisk.calls_per_host")
        if why == "not_allowed":
            conn.close()
            return
        if why is None and not self._stopping:
            for silent in self.admission.make_room(host, now, slots_full=len(self._calls) >= self.max_calls):
                self._drop(silent)
        if why is None and len(self._calls) < self.max_calls and not self._stopping:
            env_timeout = self.admission.env_timeout(self.settings.env_timeout)
            self.admission.enter(conn, host, now)
            self._calls[conn] = self._task(self._serve(conn, env_timeout))
        elif len(self._refusing) < MAX_REFUSING:
            self._refusing[conn] = self._task(self._refuse(conn))
        else:
            conn.close()
            self.calls_refused += 1

    def _task(self, call: Coroutine[Any, Any, None]) -> asyncio.Task[None]:
        assert self._loop is not None
        return self._loop.create_task(call)

    def _drop(self, conn: AgiConnection) -> None:
        """A connection without its environment makes room (:meth:`Admission.make_room`)."""
        task = self._calls.pop(conn, None)
        if task is not None:
            self._refusing[conn] = task  # until its task ends: at once, its read fails
        conn.close()

    async def _serve(self, conn: AgiConnection, env_timeout: float) -> None:
        try:
            result = await run_session(conn, self.call_factory, settings=self.settings, clock=self.clock,
                                       draining=self.handback.is_set, offload=self._offload,
                                       speech_offload=self._speech_offload, env_timeout=env_timeout,
                                       on_env=lambda: self.admission.env_received(conn), wakes=self.wakes)
            if self.on_call_end is not None:
                self.on_call_end(result)
        except Exception:
            log.exception("call failed")
        finally:
            conn.close()
            self.admission.leave(conn)
            self._calls.pop(conn, None)
            self._refusing.pop(conn, None)
            self.calls_served += 1

    async def _refuse(self, conn: AgiConnection) -> None:
        """Too many calls: hand this one back to the dialplan (``IVR_STATUS=busy``)."""
        try:
            await read_env(conn, timeout=REFUSAL_SECONDS)
            conn.write('SET VARIABLE IVR_STATUS "busy"')
            await conn.read_line(asyncio.get_running_loop().time() + REFUSAL_SECONDS)
        except AgiError:
            pass
        finally:
            conn.close()
            self._refusing.pop(conn, None)
            self.calls_refused += 1

    def _offload(self, work: Callable[[], T]) -> Awaitable[T]:
        if self._services is None:
            return inline(work)
        return asyncio.get_running_loop().run_in_executor(self._services, work)

    def _speech_offload(self, work: Callable[[], T]) -> Awaitable[T]:
        return asyncio.get_running_loop().run_in_executor(self._speech, work)

    # -- stopping ------------------------------------------------------------------------

    def shutdown(self, drain_seconds: float = 20.0) -> None:
        """Stop accepting; let calls finish for ``drain_seconds``, then hand the rest back.

        Calls still in progress after the drain are set ``IVR_STATUS=handback`` at their
        next step (the dialplan sends them to an operator queue); any still running
        after that are cut (socket closed, the engine records the abandonment).  Returns
        once every socket is closed and every thread of the server has ended.  Call it
        from any thread but the loop's.
        """
        loop, thread = self._loop, self._thread
        if thread is threading.current_thread():
            raise RuntimeError("shutdown() waits for the event loop: call it from another thread")
        if self._stopped:
            return
        self._stopped = True
        if loop is not None and thread is not None and thread.is_alive():
            done = asyncio.run_coroutine_threadsafe(self._drain(drain_seconds), loop)
            done.result()
            loop.call_soon_threadsafe(loop.stop)
            thread.join()
        else:
            self._sock.close()
        if self._services is not None:
            self._services.shutdown(wait=True, cancel_futures=True)
        self._speech.shutdown(wait=True, cancel_futures=True)

    async def _drain(self, drain_seconds: float) -> None:
        self._stopping = True
        if self._server is not None:
            self._server.close()  # the listening socket
        await self._wait_calls(drain_seconds)
        self.handback.set()
        if self.wakes is not None and self._calls:  # holds that last until their announcement
            await self._offload(self.wakes.wake_all)
        await self._wait_calls(min(HANDBACK_SECONDS, drain_seconds))
        left = {**self._calls, **self._refusing}
        for conn in left:
            conn.close()  # their tasks see the connection closed at their next read, and end
        if left:
            _, late = await asyncio.wait(left.values(), timeout=5.0)
            if late:  # stuck in offloaded work (Redis, recognition): stop waiting for it
                for task in late:
                    task.cancel()  # CancelledError where it waits; its clean-up still runs
                _, late = await asyncio.wait(late, timeout=1.0)
            if late:
                log.warning("%d calls did not end on shutdown", len(late))
        deadline = asyncio.get_running_loop().time() + 1.0
        while any(not conn.closed for conn in left) and asyncio.get_running_loop().time() < deadline:
            await asyncio.sleep(0.001)  # the transports close their sockets over the next turns

    async def _wait_calls(self, seconds: float) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + seconds
        while self._calls and loop.time() < deadline:
            await asyncio.sleep(0.05)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.shutdown(0)
