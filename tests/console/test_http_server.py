"""The engine's HTTP server (``ivr.web.server``) against hostile and numerous clients.

Real server on loopback, real sockets, the real engine on a real Redis.  Floods come from
other loopback addresses (127.0.0.2-4) so the per-address limit can be told apart from
everything else; the requests that must still be served come from 127.0.0.1.
werkzeug's threaded server, which ``ivr serve`` ran before, fails each of these: it has
no header or body timeout, no per-address limit, and an open event stream holds a thread.
"""

from __future__ import annotations

import dataclasses
import re
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from ivr.config.schema import HttpSettings
from ivr.engine import Engine
from ivr.web.app import create_app
from ivr.web.server import HttpServer
from tests.console.conftest import PASSWORD, place_call

# Well within the timeouts; generous because these 2 cores are shared with other test runs.
PROMPTLY = 3.0
FAST = HttpSettings(header_timeout=2.0, body_timeout=2.0, max_body=64 << 10,
                    max_connections_per_client=2000, max_connections=5000, threads=8)


@pytest.fixture()
def server(engine: Engine) -> Iterator[HttpServer]:
    web = HttpServer(create_app(engine), address=("127.0.0.1", 0), settings=FAST).start()
    yield web
    web.shutdown()


def started(web: HttpServer, settings: HttpSettings) -> HttpServer:
    return HttpServer(web.front.app, address=("127.0.0.1", 0), settings=settings).start()


def url(web: HttpServer, path: str) -> str:
    return f"http://127.0.0.1:{web.address[1]}{path}"


def connect_from(web: HttpServer, source: str) -> socket.socket:
    sock = socket.socket()
    sock.bind((source, 0))
    sock.connect(("127.0.0.1", web.address[1]))
    return sock


def closed_by_server(sock: socket.socket, within: float) -> bool:
    sock.settimeout(within)
    try:
        while True:
            data = sock.recv(4096)
            if not data:
                return True
    except ConnectionResetError:
        return True
    except TimeoutError:
        return False


def timed_get(web: HttpServer, path: str) -> tuple[int, float]:
    t0 = time.monotonic()
    response = requests.get(url(web, path), timeout=5)
    return response.status_code, time.monotonic() - t0


def log_in(web: HttpServer, user: str = "olga") -> requests.Session:
    session = requests.Session()
    page = session.get(url(web, "/login"), timeout=5).text
    token = re.search(r'name="csrf-token" content="([^"]+)"', page)
    assert token
    done = session.post(url(web, "/login"), data={"username": user, "password": PASSWORD,
                                                  "csrf_token": token.group(1)}, timeout=5)
    assert done.status_code == 200 and "/login" not in done.url, done.url
    return session


def test_no_server_banner(server: HttpServer) -> None:
    response = requests.get(url(server, "/healthz"), timeout=5)
    assert response.status_code == 200
    assert "server" not in {k.lower() for k in response.headers}


def test_slow_header_flood_is_dropped_and_others_are_served(server: HttpServer) -> None:
    flood: list[socket.socket] = []
    try:
        for i in range(1000):
            sock = connect_from(server, "127.0.0.2")
            sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: " + b"a" * (i % 7))
            flood.append(sock)
        # meanwhile: a probe and a log-in from elsewhere, promptly
        status, took = timed_get(server, "/healthz")
        assert status == 200 and took < PROMPTLY, took
        t0 = time.monotonic()
        log_in(server)
        assert time.monotonic() - t0 < PROMPTLY
        for sock in flood[:100]:  # still trickling a byte now and then does not help
            sock.sendall(b"a")
        # every one of them is closed once the header timeout has passed
        deadline = time.monotonic() + FAST.header_timeout + 3.0
        open_left = [s for s in flood if not closed_by_server(s, max(0.01, deadline - time.monotonic()))]
        assert not open_left, f"{len(open_left)} slow-header connections still open"
        assert server.limits.open_from("127.0.0.2") == 0
    finally:
        for sock in flood:
            sock.close()


def test_slow_body_gets_408_and_holds_no_thread(server: HttpServer) -> None:
    slow: list[socket.socket] = []
    try:
        for _ in range(3 * FAST.threads):  # more than the app's threads
            sock = connect_from(server, "127.0.0.3")
            sock.sendall(b"POST /login HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\n"
                         b"Content-Length: 1000\r\n\r\nusername=ol")
            slow.append(sock)
        status, took = timed_get(server, "/healthz")
        assert status == 200 and took < PROMPTLY, took
        time.sleep(FAST.body_timeout + 0.5)
        answers = []
        for sock in slow:
            sock.settimeout(2.0)
            answers.append(sock.recv(4096).split(b"\r\n", 1)[0])
        assert set(answers) == {b"HTTP/1.1 408 "}, set(answers)
    finally:
        for sock in slow:
            sock.close()


def test_body_over_the_limit_is_refused(server: HttpServer) -> None:
    response = requests.post(url(server, "/login"), data=b"x" * (FAST.max_body + 1), timeout=5)
    assert response.status_code == 413


def test_connections_per_address_are_bounded(server: HttpServer) -> None:
    web = started(server, dataclasses.replace(FAST, max_connections_per_client=20))
    held: list[socket.socket] = []
    try:
        held = [connect_from(web, "127.0.0.4") for _ in range(20)]
        extra = connect_from(web, "127.0.0.4")
        assert closed_by_server(extra, within=1.0)  # the 21st: closed at once, nothing read
        extra.close()
        assert timed_get(web, "/healthz")[0] == 200  # another address: served
        for sock in held:
            sock.close()
        held = []
        deadline = time.monotonic() + 2
        while web.limits.open_from("127.0.0.4") and time.monotonic() < deadline:
            time.sleep(0.05)
        again = connect_from(web, "127.0.0.4")  # places given back
        again.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        again.settimeout(5)
        assert again.recv(4096).startswith(b"HTTP/1.1 200")
        again.close()
    finally:
        for sock in held:
            sock.close()
        web.shutdown()


def test_connections_a_client_closed_give_their_place_back_at_once(server: HttpServer) -> None:
    """The attack of issue 20: a client making short connections (each closed by the client
    after its answer, as ``requests.get`` and nginx without upstream keep-alive do) was reset
    from the 257th within 10 s: Hypercorn keeps a connection the client closed until its idle
    timer, and its place counted against the address until then."""
    web = started(server, dataclasses.replace(FAST, header_timeout=10.0, max_connections_per_client=20))
    try:
        statuses = []
        for _ in range(60):  # three times the limit, well within one header_timeout
            sock = connect_from(web, "127.0.0.4")
            sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")  # keep-alive: the client closes
            sock.settimeout(5)
            try:
                statuses.append(sock.recv(4096)[:12])
            except ConnectionResetError:
                statuses.append(b"reset")
            sock.close()
            time.sleep(0.01)
        assert statuses == [b"HTTP/1.1 200"] * 60, statuses
        assert web.limits.open_from("127.0.0.4") <= 1
        held = [connect_from(web, "127.0.0.4") for _ in range(20)]  # the limit itself still holds
        extra = connect_from(web, "127.0.0.4")
        assert closed_by_server(extra, within=1.0)
        for sock in [*held, extra]:
            sock.close()
    finally:
        web.shutdown()


def redis_clients(engine: Engine) -> int:
    return len(engine.redis.client_list())


def open_stream(web: HttpServer, cookie: str) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", web.address[1]))
    sock.sendall(f"GET /operator/events HTTP/1.1\r\nHost: x\r\nCookie: {cookie}\r\n"
                 "Accept: text/event-stream\r\n\r\n".encode())
    return sock


def read_until(sock: socket.socket, marker: bytes, timeout: float) -> bytes:
    sock.settimeout(timeout)
    seen = b""
    deadline = time.monotonic() + timeout
    while marker not in seen:
        sock.settimeout(max(0.01, deadline - time.monotonic()))
        chunk = sock.recv(65536)
        if not chunk:
            break
        seen += chunk
    return seen


def test_many_event_streams_share_one_redis_reader_and_background_work_goes_on(
        server: HttpServer, engine: Engine) -> None:
    session = log_in(server)
    page = session.get(url(server, "/operator"), timeout=5).text
    csrf = re.search(r'name="csrf-token" content="([^"]+)"', page)
    assert csrf
    ready = session.post(url(server, "/operator/api/state"), json={"state": "ready"},
                         headers={"X-CSRF-Token": csrf.group(1)}, timeout=5)
    assert ready.status_code == 200, ready.text
    cookie = "; ".join(f"{k}={v}" for k, v in session.cookies.items())
    before_clients, before_threads = redis_clients(engine), threading.active_count()
    failures: list[BaseException] = []
    stop = threading.Event()

    def background() -> None:  # what ``ivr serve`` runs each second: here four times a second
        while not stop.wait(0.25):
            try:
                engine.tick()
            except BaseException as exc:  # noqa: BLE001 - the test reports it
                failures.append(exc)

    ticker = threading.Thread(target=background, daemon=True)
    streams: list[socket.socket] = []
    try:
        for _ in range(300):
            streams.append(open_stream(server, cookie))
        for sock in streams:
            hello = read_until(sock, b"event: hello", 10.0)
            assert hello.startswith(b"HTTP/1.1 200") and b"event: hello" in hello, hello[:200]
        threads_open = threading.active_count()
        clients_open = redis_clients(engine)
        assert threads_open - before_threads <= FAST.threads + 2, (before_threads, threads_open)
        assert clients_open - before_clients <= FAST.threads + 3, (before_clients, clients_open)
        ticker.start()
        place_call(engine, "call-http-1")  # payments: op102, olga's, gets it at the next tick
        popped = [read_until(sock, b"event: pop", 10.0) for sock in streams]
        assert all(b"event: pop" in p and b"call-http-1" in p for p in popped), \
            sum(b"event: pop" in p for p in popped)
        assert not failures, failures
        status, took = timed_get(server, "/healthz")
        assert status == 200 and took < PROMPTLY
    finally:
        stop.set()
        for sock in streams:
            sock.close()
    deadline = time.monotonic() + 5
    hub: Any = server.front.app.extensions["ivr.console.hub"]  # type: ignore[attr-defined]
    while hub.subscribers and time.monotonic() < deadline:
        time.sleep(0.05)
    assert hub.subscribers == 0  # every closed page unsubscribed


def test_shutdown_with_streams_open_is_prompt(server: HttpServer, engine: Engine) -> None:
    web = started(server, FAST)
    session = log_in(web)
    cookie = "; ".join(f"{k}={v}" for k, v in session.cookies.items())
    streams = [open_stream(web, cookie) for _ in range(20)]
    try:
        assert all(b"event: hello" in read_until(sock, b"event: hello", 10.0) for sock in streams)
        t0 = time.monotonic()
        web.shutdown()
        assert time.monotonic() - t0 < 4.0  # open pages do not hold the engine's stop
        assert all(closed_by_server(sock, within=2.0) for sock in streams)
    finally:
        for sock in streams:
            sock.close()


def test_a_keep_alive_client_gets_each_reply_without_waiting_on_its_own_acknowledgement() -> None:
    """Twilio and browsers reuse a connection: the server must send a reply's writes at once
    (TCP_NODELAY), or each request after the first waits out the client's delayed ack."""
    from ivr.web.listener import ConnectionLimits, listen

    listener = listen("127.0.0.1", 0, ConnectionLimits(per_client=10, total=10))
    client = socket.create_connection(listener.getsockname()[:2])
    try:
        deadline = time.monotonic() + PROMPTLY
        while True:
            try:
                conn, _ = listener.accept()
                break
            except BlockingIOError:
                assert time.monotonic() < deadline
                time.sleep(0.01)
        with conn:
            assert conn.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) == 1
    finally:
        client.close()
        listener.close()
