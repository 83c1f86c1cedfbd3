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


def settle_heap() -> None:
    """Take what start-up built (config, menus, libraries, the app) out of the collector's way.

    A full collection walks every tracked object and stops every call in progress while it
    does; start-up objects live as long as the process and are a large share of them.  With
    them frozen the full collection at 1,000 calls takes about half as long (BENCHMARKS.md,
    FastAGI).  What is frozen is never collected: objects dropped later (an old menu after
    a reload) are freed by reference counting, only cycles among them would stay.
    """
    gc.collect()
    gc.freeze()


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
    engine.start_metrics()
    web = HttpServer(create_app(engine), address=http, settings=engine.config.http).start()
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
    settle_heap()
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


