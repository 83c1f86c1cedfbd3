"""The operational pages (``/metrics``, ``/queues``) on their own listener, not on the public port.

``serve`` in this process on real loopback sockets: the public port (what Twilio reaches)
answers them 404, or 401 without ``IVR_METRICS_TOKEN``'s bearer when a token is set; the
operational listener (``engine.ops_http``) answers them, asking for the token when one is set.
"""

from __future__ import annotations

import http.client
import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from ivr.config import Secrets, load_config
from ivr.config.schema import EngineSettings
from ivr.engine import Engine, build_engine
from ivr.serve import serve
from routing.redis_conn import connect
from tests.redis_servers import RedisServer

from .conftest import RECORDING_KEY, ROOT, moved_config
from .engines import free_port

TOKEN = "a-metrics-token-of-24-chars"


def get(port: int, path: str, headers: dict[str, str] | None = None) -> http.client.HTTPResponse:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    connection.request("GET", path, headers=headers or {})
    reply = connection.getresponse()
    reply.read()
    connection.close()
    return reply


@contextmanager
def serving(engine: Engine, ops: int | None) -> Iterator[int]:
    """``serve`` on a free public port (yielded) and ``ops`` as its operational port."""
    port, stop, up = free_port(), threading.Event(), threading.Event()
    thread = threading.Thread(target=serve, args=(engine,), kwargs={
        "http": ("127.0.0.1", port), "ops_http": None if ops is None else ("127.0.0.1", ops), "call_servers": [],
        "stop": stop, "install_signals": False, "on_ready": up.set}, daemon=True)
    thread.start()
    try:
        assert up.wait(20), "serve did not start"
        yield port
    finally:
        stop.set()
        thread.join(20)


def engine_with(tmp_path: Path, redis_server: RedisServer, *, token: str | None) -> Engine:
    config = moved_config(load_config(ROOT / "config.yaml"), tmp_path)
    return build_engine(config, Secrets(recording_key=RECORDING_KEY, metrics_token=token),
                        redis=connect(redis_server.url, embedded_dir=str(tmp_path / "unused")))


def test_without_a_token_the_public_port_has_no_operational_pages(tmp_path: Path,
                                                                  redis_server: RedisServer) -> None:
    engine = engine_with(tmp_path, redis_server, token=None)
    ops = free_port()
    with serving(engine, ops) as public:
        for path in ("/metrics", "/queues"):
            assert get(public, path).status == 404, path
            assert get(public, path, {"Authorization": "Bearer anything-at-all-here"}).status == 404
        metrics = get(ops, "/metrics")
        assert metrics.status == 200 and metrics.getheader("Content-Type", "").startswith("text/plain")
        assert get(ops, "/queues").status == 200
        for port in (public, ops):  # health answers on both; no server banner on either
            reply = get(port, "/healthz")
            assert reply.status == 200 and reply.getheader("Server") is None
            assert get(port, "/readyz").status == 200
        assert get(public, "/metrics").getheader("Server") is None
        assert get(ops, "/login").status == 404  # the console is not on the operational port


def test_with_a_token_both_ports_answer_only_its_bearer(tmp_path: Path, redis_server: RedisServer) -> None:
    engine = engine_with(tmp_path, redis_server, token=TOKEN)
    ops = free_port()
    with serving(engine, ops) as public:
        for port in (public, ops):
            for path in ("/metrics", "/queues"):
                refused = get(port, path)
                assert refused.status == 401 and refused.getheader("WWW-Authenticate") == 'Bearer realm="ivr-ops"'
                assert get(port, path, {"Authorization": "Bearer " + TOKEN[:-1] + "X"}).status == 401
                assert get(port, path, {"Authorization": "Basic " + TOKEN}).status == 401
                assert get(port, path, {"Authorization": "Bearer " + TOKEN}).status == 200
        assert get(public, "/healthz").status == 200  # probes need no token


def test_the_public_port_alone_with_ops_off(tmp_path: Path, redis_server: RedisServer) -> None:
    engine = engine_with(tmp_path, redis_server, token=TOKEN)
    with serving(engine, None) as public:
        assert get(public, "/metrics").status == 401
        assert get(public, "/metrics", {"Authorization": "Bearer " + TOKEN}).status == 200


def test_an_operational_port_in_use_stops_the_start_with_a_clear_error(
        tmp_path: Path, redis_server: RedisServer, caplog: pytest.LogCaptureFixture) -> None:
    engine = engine_with(tmp_path, redis_server, token=None)
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with caplog.at_level(logging.ERROR, logger="ivr.serve"):
            assert serve(engine, http=("127.0.0.1", free_port()), ops_http=("127.0.0.1", port), call_servers=[],
                         install_signals=False) == 2
    assert f"cannot listen on 127.0.0.1:{port} (engine.ops_http)" in caplog.text and "--ops-http" in caplog.text


def test_the_default_is_loopback_and_the_shipped_config_says_so() -> None:
    assert EngineSettings().ops_http == ("127.0.0.1", 9108)
    assert load_config(ROOT / "config.yaml").engine.ops_http == ("127.0.0.1", 9108)
