"""The HTTP front: the Flask (WSGI) app behind an ASGI server, event streams on the loop.

Strategy: the server (Hypercorn, :mod:`ivr.web.server`) reads requests on an event loop.
This front reads a request's body there too (bounded in size and time: a slow body holds
no thread), then calls the Flask app in a bounded thread pool.  A response is sent from
the loop; a large one is read on from the pool a chunk at a time, so a client that does
not read holds no thread either.  An event stream (``/operator/events``,
``/supervisor/events``) is recognised by the :class:`EventStream` the view leaves in the
environ: the front serves it with :meth:`EventStream.frames`, waiting on the loop and
borrowing a thread only to render what arrived.  So a thousand open streams cost a
thousand sockets and coroutines, no thread and no Redis connection each: the process's
one reader of the routing events (:class:`ivr.console.hub.EventHub`) feeds them all.
"""

from __future__ import annotations

import asyncio
import io
import logging
import sys
from collections.abc import Awaitable, Callable, Iterable, Iterator, MutableMapping
from concurrent.futures import Executor
from dataclasses import dataclass
from typing import Any, TypeVar

from ivr.console.sse import STREAM_KEY, EventStream

log = logging.getLogger(__name__)
T = TypeVar("T")
Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]
WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]
FIRST_BYTES = 256 << 10  # sent from the pool at once; more is read a chunk per turn


class BodyTooLarge(Exception):
    pass


@dataclass
class Answer:
    """What the app answered: status and headers, the body read so far, and the rest."""

    status: int
    headers: list[tuple[bytes, bytes]]
    first: bytes
    rest: Iterator[bytes] | None
    stream: EventStream | None
    close: Callable[[], object] | None


class HttpFront:
    """An ASGI app serving ``app`` (WSGI) with the limits described in the module docstring."""

    def __init__(self, app: WSGIApp, *, pool: Executor, body_timeout: float, max_body: int) -> None:
        self.app = app
        self.pool = pool
        self.body_timeout = body_timeout
        self.max_body = max_body

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            while (await receive())["type"] != "lifespan.shutdown":
                await send({"type": "lifespan.startup.complete"})
            await send({"type": "lifespan.shutdown.complete"})
            return
        if scope["type"] != "http":
            return
        try:
            async with asyncio.timeout(self.body_timeout):
                body = await self._body(receive)
        except TimeoutError:
            await _plain(send, 408, b"request body too slow\n")
            return
        except BodyTooLarge:
            await _plain(send, 413, b"request body too large\n")
            return
        answer = await self.run(lambda: self._call(environ(scope, body)))
        try:
            await send({"type": "http.response.start", "status": answer.status, "headers": answer.headers})
            if answer.stream is not None:
                await _until_gone(self._stream(answer.stream, send), receive)
            else:
                await send({"type": "http.response.body", "body": answer.first, "more_body": True})
                rest = answer.rest
                while rest is not None:
                    chunk = await self.run(lambda: next(rest, None))
                    if chunk is None:
                        break
                    await send({"type": "http.response.body", "body": chunk, "more_body": True})
            await send({"type": "http.response.body", "body": b"", "more_body": False})
        finally:
            if answer.close is not None:
                await self.run(answer.close)

    async def _stream(self, stream: EventStream, send: Send) -> None:
        async for chunk in stream.frames(self.run):
            await send({"type": "http.response.body", "body": chunk, "more_body": True})

    async def run(self, work: Callable[[], T]) -> T:
        """``work()`` in the pool (everything that may block: the app, Redis)."""
        return await asyncio.get_running_loop().run_in_executor(self.pool, work)

    async def _body(self, receive: Receive) -> bytes:
        body = bytearray()
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                raise TimeoutError  # gone before its body was in: nothing to answer
            body += message.get("body", b"")
            if len(body) > self.max_body:
                raise BodyTooLarge
            if not message.get("more_body"):
                return bytes(body)

    def _call(self, env: dict[str, Any]) -> Answer:
        started: list[Any] = []

        def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> None:
            started[:] = [status, headers]

        result = self.app(env, start_response)
        stream = env.get(STREAM_KEY)
        close = getattr(result, "close", None)
        status, headers = started
        raw = [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in headers]
        if isinstance(stream, EventStream):
            return Answer(int(status[:3]), raw, b"", None, stream, close)  # never iterated
        chunks = iter(result)
        first = bytearray()
        for chunk in chunks:
            first += chunk
            if len(first) >= FIRST_BYTES:
                return Answer(int(status[:3]), raw, bytes(first), chunks, None, close)
        if close is not None:
            close()  # the whole body is read: the app is done here, no second trip to the pool
        return Answer(int(status[:3]), raw, bytes(first), None, None, None)


async def _until_gone(streaming: Awaitable[None], receive: Receive) -> None:
    """Run ``streaming`` until it ends or the client goes away (then it is cancelled)."""
    async def gone() -> None:
        while (await receive())["type"] != "http.disconnect":
            pass

    tasks = {asyncio.ensure_future(streaming), asyncio.ensure_future(gone())}
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


async def _plain(send: Send, status: int, text: bytes) -> None:
    await send({"type": "http.response.start", "status": status, "headers": [
        (b"content-type", b"text/plain; charset=utf-8"), (b"content-length", str(len(text)).encode()),
        (b"connection", b"close")]})
    await send({"type": "http.response.body", "body": text, "more_body": False})


def environ(scope: Scope, body: bytes) -> dict[str, Any]:
    """The WSGI environ (PEP 3333) of an ASGI HTTP request whose body has been read."""
    server = scope.get("server") or ("localhost", 80)
    client = scope.get("client") or ("", 0)
    env: dict[str, Any] = {
        "REQUEST_METHOD": scope["method"],
        "SCRIPT_NAME": scope.get("root_path", "").encode().decode("latin-1"),
        "PATH_INFO": scope["path"].encode().decode("latin-1"),
        "QUERY_STRING": scope["query_string"].decode("latin-1"),
        "SERVER_NAME": str(server[0]),
        "SERVER_PORT": str(server[1]),
        "SERVER_PROTOCOL": f"HTTP/{scope['http_version']}",
        "REMOTE_ADDR": client[0],
        "REMOTE_PORT": str(client[1]),
        "CONTENT_LENGTH": str(len(body)),
        "wsgi.version": (1, 0),
        "wsgi.url_scheme": scope.get("scheme", "http"),
        "wsgi.input": io.BytesIO(body),
        "wsgi.input_terminated": True,
        "wsgi.errors": sys.stderr,
        "wsgi.multithread": True,
        "wsgi.multiprocess": False,
        "wsgi.run_once": False,
    }
    for raw_name, raw_value in scope["headers"]:
        name = raw_name.decode("latin-1").upper().replace("-", "_")
        if name == "CONTENT_LENGTH":
            continue  # the body read is what the app gets
        key = name if name == "CONTENT_TYPE" else "HTTP_" + name
        value = raw_value.decode("latin-1")
        env[key] = env[key] + "," + value if key in env else value
    return env
