"""An administrator points ``ivr serve`` at a Redis that speaks TLS only (README: REDIS_URL
``rediss://...?ssl_ca_certs=...``): it serves, its figures read from that Redis; with the
wrong CA it stops at start saying why, instead of retrying."""

from __future__ import annotations

from collections.abc import Iterator
from urllib.parse import urlencode

import pytest

from tests.journeys.product import ROOT, Product, free_port, newcomer_env
from tests.redis_servers import TlsRedisServer
from tests.tls_certs import Issued, TestCA


@pytest.fixture()
def tls_redis(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[TlsRedisServer, Issued, TestCA]]:
    directory = tmp_path_factory.mktemp("tls")
    ca = TestCA(directory / "ca")
    cert = ca.issue("redis-server", server=True)
    client = ca.issue("ivr-engine", server=False)
    server = TlsRedisServer(ca=str(ca.path), cert=str(cert.cert), key=str(cert.key),
                            client_cert=str(client.cert), client_key=str(client.key)).start()
    yield server, client, TestCA(directory / "other", name="another CA")
    server.close()


def test_the_engine_serves_from_a_redis_over_tls(product: Product,
                                                 tls_redis: tuple[TlsRedisServer, Issued, TestCA]) -> None:
    server, _, _ = tls_redis
    assert "rediss://" in (ROOT / "README.md").read_text(encoding="utf-8")
    serving = product.serve(env=newcomer_env(REDIS_URL=server.url))
    ready = serving.get("/readyz").json()
    assert ready["checks"]["redis"] is True, ready
    assert {q["queue"] for q in serving.ops_get("/queues").json()["queues"]} >= {"general"}
    assert server.client().dbsize() > 0  # what the engine keeps is in that Redis
    serving.stop()


def test_a_wrong_ca_stops_the_start_saying_why(product: Product,
                                               tls_redis: tuple[TlsRedisServer, Issued, TestCA]) -> None:
    server, client, other = tls_redis
    query = urlencode({"ssl_ca_certs": str(other.path), "ssl_certfile": str(client.cert),
                       "ssl_keyfile": str(client.key)})
    done = product.ivr("serve", "--fastagi", "off", "--http", f"127.0.0.1:{free_port()}", "--ops-http", "off",
                       env=newcomer_env(REDIS_URL=f"rediss://127.0.0.1:{server.port}/0?{query}"), timeout=30)
    assert done.returncode == 2, done.stderr[-2000:]
    assert "TLS refused" in done.stderr and "certificate verify failed" in done.stderr
    assert "Traceback" not in done.stderr
