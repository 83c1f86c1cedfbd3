"""The FastAGI server: one thread per call, a listening socket with a deep backlog.

Strategy: a call is a long conversation of small blocking steps (a prompt, a key, a
wait in queue), and pyst2's command layer is blocking, so each call gets its own
thread with blocking socket reads under kernel deadlines (SO_RCVTIMEO).  A stalled
peer only ever holds its own thread until its deadline drops it.

Measured limit (bench/fastagi_bench.py, 2 cores, CPython 3.11): p50 turnaround ~0.5 ms
up to 500 calls, but the p99 grows to hundreds of ms at 500 and the process saturates
at 1,000: perf shows the time in futex waits/wakes, i.e. GIL hand-offs between many
runnable threads, not in the engine (~0.12 ms a step).  Meeting 1,000 calls at p99 < 5 ms
needs the I/O on one selector loop (engine steps inline, pyst2 fed from a buffer)
or several processes behind one port (SO_REUSEPORT / hagi:// SRV); not done yet.

Wiring (composition root)::

    server = FastAgiServer(
        *settings.engine.fastagi,                   # ("127.0.0.1", 4573)
        call_factory=lambda env: CallSetup(
            runner=CallRunner(menu=menus.for_number(env.get("agi_extension")),
                              services=services, clock=time.time),
            appeal=services.allocate_appeal(),
            recognise=None if no_model else recogniser.recognise,
        ),
        max_calls=settings.engine.max_calls,
    )
    server.start()                                  # accept loop in a thread
    ...
    server.shutdown(settings.engine.drain_seconds)  # on SIGTERM/SIGINT
"""

from __future__ import annotations

import logging
import socket
import threading
import time
from collections.abc import Callable
from typing import Self

from ivr.asterisk.agi import MAX_LINE, AgiError, EnvReader
from ivr.asterisk.session import CallFactory, SessionResult, SessionSettings, run_session

log = logging.getLogger(__name__)
MAX_REFUSING = 64  # refusals in progress at once; beyond this a surplus call is just closed


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
    ) -> None:
        self.call_factory = call_factory
        self.max_calls = max_calls
        self.settings = settings or SessionSettings()
        self.clock = clock
        self.on_call_end = on_call_end
        self.handback = threading.Event()  # set: calls go back to the dialplan at their next step
        self._lock = threading.Lock()
        self._calls: dict[threading.Thread, socket.socket] = {}
        self._refusing = 0
        self._stopped = threading.Event()
        self._sock = socket.create_server((host, port), backlog=backlog, reuse_port=False)
        self._sock.settimeout(0.2)  # the accept loop checks for shutdown this often
        self.address: tuple[str, int] = self._sock.getsockname()[:2]
        self._acceptor: threading.Thread | None = None
        self.calls_served = 0
        self.calls_refused = 0

    # -- running -------------------------------------------------------------------------

    @property
    def active_calls(self) -> int:
        with self._lock:
            return len(self._calls)

    def start(self) -> threading.Thread:
        """Run the accept loop in a (non-daemon) thread; returns it."""
        self._acceptor = threading.Thread(target=self.serve_forever, name="fastagi-accept")
        self._acceptor.start()
        return self._acceptor

    def serve_forever(self) -> None:
        while not self._stopped.is_set():
            try:
                conn, _peer = self._sock.accept()
            except TimeoutError:
                continue
            except OSError:
                if self._stopped.is_set():
                    break
                log.exception("accept failed")
                time.sleep(0.05)
                continue
            conn.settimeout(None)
            conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            self._dispatch(conn)

    def _dispatch(self, conn: socket.socket) -> None:
        with self._lock:
            busy = len(self._calls) >= self.max_calls or self._stopped.is_set()
            if busy:
                if self._refusing >= MAX_REFUSING:
                    conn.close()
                    self.calls_refused += 1
                    return
                self._refusing += 1
            thread = threading.Thread(target=self._refuse if busy else self._serve, args=(conn,),
                                      name="fastagi-refuse" if busy else "fastagi-call")
            if not busy:
                self._calls[thread] = conn
        thread.start()

    def _serve(self, conn: socket.socket) -> None:
        me = threading.current_thread()
        try:
            result = run_session(conn, self.call_factory, settings=self.settings, clock=self.clock,
                                 draining=self.handback)
            if self.on_call_end is not None:
                self.on_call_end(result)
        except Exception:
            log.exception("call thread failed")
        finally:
            with self._lock:
                self._calls.pop(me, None)
                self.calls_served += 1

    def _refuse(self, conn: socket.socket) -> None:
        """Too many calls: hand this one back to the dialplan (``IVR_STATUS=busy``)."""
        try:
            conn.settimeout(2.0)
            reader = conn.makefile("rb")
            env = EnvReader()
            while not env.feed(reader.readline(MAX_LINE + 2).decode("utf-8", "replace").rstrip("\r\n")):
                pass
            conn.sendall(b'SET VARIABLE IVR_STATUS "busy"\n')
            reader.readline(MAX_LINE + 2)
            reader.close()
        except (OSError, AgiError):
            pass
        finally:
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            conn.close()
            with self._lock:
                self._refusing -= 1
                self.calls_refused += 1

    # -- stopping ------------------------------------------------------------------------

    def shutdown(self, drain_seconds: float = 20.0) -> None:
        """Stop accepting; let calls finish for ``drain_seconds``, then hand the rest back.

        Calls still in progress after the drain are set ``IVR_STATUS=handback`` at their
        next step (the dialplan sends them to an operator queue); any still running
        after that are cut (socket shut down,
        the engine records the abandonment).  Every call thread is joined.
        """
        self._stopped.set()
        if self._acceptor is not None and self._acceptor is not threading.current_thread():
            self._acceptor.join()
        self._sock.close()
        deadline = time.monotonic() + drain_seconds
        while self.active_calls and time.monotonic() < deadline:
            time.sleep(0.05)
        self.handback.set()
        deadline = time.monotonic() + min(2.0, drain_seconds)
        while self.active_calls and time.monotonic() < deadline:
            time.sleep(0.05)
        with self._lock:
            left = list(self._calls.items())
        for _thread, conn in left:
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        for thread, _conn in left:
            thread.join(timeout=5.0)
        while True:  # refusals in progress end on their own 2 s deadline
            with self._lock:
                if self._refusing == 0:
                    break
            time.sleep(0.05)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.shutdown(0)
