"""``ivr serve``: the engine process — FastAGI server, HTTP app and background work.

Stops cleanly on SIGTERM/SIGINT: no new calls are taken, calls in progress get
``engine.drain_seconds`` to finish (then their sockets are closed and the calls
recorded as abandoned), the HTTP server stops, the background loop ends.
"""

from __future__ import annotations

import dataclasses
import gc
import logging
import signal
import sys
import threading
from collections.abc import Callable
from typing import Protocol

from ivr.engine import Engine
from ivr.web.app import create_app, create_ops_app
from ivr.web.server import HttpServer

log = logging.getLogger("ivr.serve")


class CallServer(Protocol):
    """A telephony front end that takes calls until shut down (FastAGI)."""

    address: tuple[str, int]

    def start(self) -> object: ...

    def shutdown(self, drain_seconds: float) -> None: ...


#: New container objects between two collections of the youngest generation (CPython's
#: default is 700).  See :func:`settle_interpreter`.
YOUNG_COLLECTION_EVERY = 10_000
#: How long a thread may hold the GIL while another waits for it (CPython's default: 5 ms).
GIL_SWITCH_SECONDS = 0.001


def settle_interpreter() -> None:
    """Once the servers are up: start-up out of the collector's way, the young collected
    less often, and the GIL handed over sooner.

    A collection stops every call in progress while it runs.  Start-up objects (config,
    menus, libraries, the app) live as long as the process and are a large share of the
    heap: frozen, they are never walked again, and a full collection at 1,000 calls takes
    about half as long.  What is frozen is never collected: objects dropped later (an old
    menu after a reload) are freed by reference counting, only cycles among them would stay.

    With 1,000 calls in progress most young objects are a call's live state, which
    survives its collection and is moved on to be walked again in the older ones; at
    CPython's default of a collection every 700 new objects those pauses, several a
    second, were the whole tail of the FastAGI turnaround (p99 4-9 ms with the collector
    on, 1.1-1.7 ms with it off, 1,000 calls; BENCHMARKS.md, FastAGI).  Every 10,000 the
    pauses are as long in all but are a few in a minute: p99 1.2-1.6 ms.  Garbage in
    cycles waits a little longer to be freed, a few MB at most.

    One process runs two event loops (HTTP, FastAGI) and their pools: every web request
    goes from the HTTP loop to a pool thread and back, and a thread back from a Redis round
    trip waits for the GIL.  At CPython's default a thread that wants it waits up to 5 ms
    for a busy one to let go, once per hand-off; at 1 ms the Twilio webhooks' p99 at 500
    calls was 25-40 ms against 27-79 ms (BENCHMARKS.md, HTTP), at the same CPU.
    """
    gc.collect()
    gc.freeze()
    _, middle, oldest = gc.get_threshold()
    gc.set_threshold(YOUNG_COLLECTION_EVERY, middle, oldest)
    sys.setswitchinterval(GIL_SWITCH_SECONDS)


def _loopback(host: str) -> bool:
    import ipaddress

    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"


def serve(
    engine: Engine,
    *,
    http: tuple[str, int],
    call_servers: list[CallServer],
    ops_http: tuple[str, int] | None = None,
    stop: threading.Event | None = None,
    install_signals: bool = True,
    on_ready: Callable[[], None] | None = None,
) -> int:
    stop = stop or threading.Event()
    if install_signals:
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, lambda *_: stop.set())
    ops: HttpServer | None = None
    if ops_http is not None:  # its own socket, one per process (never SO_REUSEPORT: each has its metrics)
        settings = dataclasses.replace(engine.config.http, reuse_port=False, threads=4)
        try:
            ops = HttpServer(create_ops_app(engine), address=ops_http, settings=settings)
        except OSError as exc:
            log.error("ops: cannot listen on %s:%d (engine.ops_http): %s; another ivr serve there? "
                      "give this one --ops-http HOST:PORT, or off", *ops_http, exc.strerror or exc)
            return 2
    try:
        web = HttpServer(create_app(engine), address=http, settings=engine.config.http)
    except OSError as exc:
        log.error("http: cannot listen on %s:%d (engine.http): %s; another ivr serve there? "
                  "give this one --http HOST:PORT", *http, exc.strerror or exc)
        if ops is not None:
            ops.socket.close()
        return 2
    engine.start_metrics()
    web.start()
    log.info("http: listening on %s:%d", *web.address)
    if ops is not None:
        ops.start()
        log.info("ops: /metrics and /queues on %s:%d", *ops.address)
        if engine.secrets.metrics_token is None and not _loopback(ops.address[0]):
            log.warning("ops: %s is beyond loopback and IVR_METRICS_TOKEN is not set: anyone who reaches it "
                        "reads the queues; set the token or firewall the port", ops.address[0])
    for server in call_servers:
        server.start()
        log.info("fastagi: listening on %s:%d", *server.address)
    settle_interpreter()
    if on_ready is not None:
        on_ready()
    while not stop.wait(1.0):
        try:
            engine.tick()
        except Exception:  # background work must never stop the engine
            log.exception("background work failed; retrying in a second")
    engine.draining.set()  # /readyz: 503 from now on
    drained = threading.Event()
    instances = engine.instances

    def beat_while_draining() -> None:  # the calls draining are still ours: keep the lease
        while instances is not None and not drained.wait(1.0):
            instances.tick()

    threading.Thread(target=beat_while_draining, name="drain-heartbeat", daemon=True).start()
    log.info("stopping: draining calls for up to %ss", engine.config.engine.drain_seconds)
    for server in call_servers:
        server.shutdown(engine.config.engine.drain_seconds)
    drained.set()
    if engine.instances is not None:
        engine.instances.leave()
    web.shutdown()
    if ops is not None:
        ops.shutdown()
    if engine.routing_events is not None:
        engine.routing_events.close()
    log.info("stopped")
    return 0


