"""The engine's HTTP server: Hypercorn on its own event loop, in its own thread.

Why Hypercorn: an asyncio server, so an idle or slow connection and an open event
stream cost a socket and a coroutine, not a thread; its idle timer runs from the moment
a connection is accepted until a request's headers are complete, which is the header
timeout a slow-header client meets (uvicorn has none: a connection that never finishes
its headers is kept for ever); it is maintained with the Pallets projects (Quart) and
speaks plain HTTP/1.1 through h11.  Its loop is not the FastAGI server's: a burst of web
traffic never delays a call's turnaround on that loop, and either may be restarted
without the other.  Limits (``http:`` in config.yaml): :mod:`ivr.web.listener` bounds
open connections per client address and in all, :mod:`ivr.web.front` bounds bodies and
the threads the Flask app runs in.  No ``Server`` header is sent.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any, cast

from hypercorn.app_wrappers import ASGIWrapper
from hypercorn.asyncio.run import worker_serve
from hypercorn.config import Config as HypercornConfig
from hypercorn.config import Sockets

from ivr.config.schema import HttpSettings
from ivr.web.front import HttpFront, WSGIApp
from ivr.web.listener import ConnectionLimits, listen

log = logging.getLogger(__name__)


def hypercorn_config(settings: HttpSettings) -> HypercornConfig:
    config = HypercornConfig()
    config.keep_alive_timeout = settings.header_timeout  # also: from accept to complete headers
    config.include_server_header = False
    config.accesslog = None
    config.errorlog = logging.getLogger("ivr.http")
    config.graceful_timeout = 2.0
    config.backlog = 1024
    config.h11_max_incomplete_size = 16 * 1024
    config.wsgi_max_body_size = settings.max_body
    return config


def _quiet_at_shutdown(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
    """Connections still open at shutdown (event streams) are cancelled: not worth a traceback."""
    if isinstance(context.get("exception"), asyncio.CancelledError):
        return
    loop.default_exception_handler(context)


class HttpServer:
    """``start()`` binds and serves ``app`` in a thread; ``shutdown()`` stops it."""

    def __init__(self, app: WSGIApp, *, address: tuple[str, int], settings: HttpSettings) -> None:
        self.settings = settings
        self.limits = ConnectionLimits(per_client=settings.max_connections_per_client,
                                       total=settings.max_connections)
        self.socket = listen(address[0], address[1], self.limits, reuse_port=settings.reuse_port)
        self.address: tuple[str, int] = self.socket.getsockname()[:2]
        self.pool = ThreadPoolExecutor(max_workers=settings.threads, thread_name_prefix="http")
        self.front = HttpFront(app, pool=self.pool, body_timeout=settings.body_timeout,
                               max_body=settings.max_body)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, name="http-loop", daemon=True)

    def start(self) -> HttpServer:
        self._thread.start()
        self._ready.wait(10)
        return self

    def _run(self) -> None:
        asyncio.run(self._serve())

    async def _serve(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._loop.set_exception_handler(_quiet_at_shutdown)
        self._stop = asyncio.Event()
        self._loop.call_soon(self._ready.set)
        sockets = Sockets(secure_sockets=[], insecure_sockets=[self.socket], quic_sockets=[])
        app = ASGIWrapper(cast(Any, self.front))
        await worker_serve(app, hypercorn_config(self.settings), sockets=sockets,
                           shutdown_trigger=self._stop.wait)

    def shutdown(self, timeout: float = 5.0) -> None:
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(timeout)
        self.pool.shutdown(wait=False, cancel_futures=True)
        self.socket.close()
