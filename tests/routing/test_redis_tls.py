"""Redis over TLS: a real ``redis-server`` speaking TLS only on loopback, certificates from a
test CA made here; the routing scripts run through ``connect("rediss://...")`` and a
certificate the client cannot trust is refused at connect, at once and saying why."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlencode

import pytest

from ivr.config.schema import RoutingSettings
from routing.engine import Router
from routing.redis_conn import RedisTlsError, connect
from tests.redis_servers import TlsRedisServer
from tests.routing.conftest import QUEUES, FakeClock, call, op, operators
from tests.tls_certs import Issued, TestCA


@dataclass
class TlsSetup:
    server: TlsRedisServer
    ca: TestCA
    client: Issued
    other_ca: TestCA


@pytest.fixture(scope="module")
def tls(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TlsSetup]:
    directory = tmp_path_factory.mktemp("redis-tls")
    ca = TestCA(directory / "ca")
    server_cert = ca.issue("redis-server", server=True)
    client = ca.issue("ivr-engine", server=False)
    server = TlsRedisServer(ca=str(ca.path), cert=str(server_cert.cert), key=str(server_cert.key),
                            client_cert=str(client.cert), client_key=str(client.key)).start()
    yield TlsSetup(server, ca, client, TestCA(directory / "other", name="another CA"))
    server.close()


def url(tls: TlsSetup, **query: str) -> str:
    return f"rediss://127.0.0.1:{tls.server.port}/0?{urlencode(query)}"


def test_the_routing_scripts_run_over_tls(tls: TlsSetup, tmp_path: Path) -> None:
    redis = connect(tls.server.url, embedded_dir=str(tmp_path))
    assert redis.connection_pool.connection_class.__name__ == "SSLConnection"
    clock = FakeClock()
    router = Router(redis=redis, queues=QUEUES, operators=operators(a=op({"general": 5})),
                    settings=RoutingSettings(), calendar=None, clock=clock, prefix="tls")
    router.enqueue(call("c1", clock.now))
    router.set_operator_state("a", "available")  # the assignment script gives c1 to a
    status = router.operator_status("a")
    assert status.state == "reserved" and status.assignment is not None and status.assignment.call_id == "c1"
    settings = {**redis.config_get("tls-port"), **redis.config_get("port")}
    assert settings == {"tls-port": str(tls.server.port), "port": "0"}  # TLS is the only way in


def test_a_server_certificate_from_another_ca_is_refused_at_once(tls: TlsSetup, tmp_path: Path) -> None:
    started = time.monotonic()
    with pytest.raises(RedisTlsError) as refused:
        connect(url(tls, ssl_ca_certs=str(tls.other_ca.path), ssl_certfile=str(tls.client.cert),
                    ssl_keyfile=str(tls.client.key)), embedded_dir=str(tmp_path))
    assert time.monotonic() - started < 5  # no retry loop
    assert "TLS refused" in refused.value.message and "certificate verify failed" in refused.value.message
    assert f"rediss://127.0.0.1:{tls.server.port}" in refused.value.message


def test_a_client_without_a_certificate_is_refused(tls: TlsSetup, tmp_path: Path) -> None:
    with pytest.raises(RedisTlsError) as refused:
        connect(url(tls, ssl_ca_certs=str(tls.ca.path)), embedded_dir=str(tmp_path))
    assert "TLS refused" in refused.value.message


def test_a_ca_file_that_is_not_there_is_named(tls: TlsSetup, tmp_path: Path) -> None:
    missing = str(tmp_path / "nowhere.pem")
    with pytest.raises(RedisTlsError, match=f"ssl_ca_certs={missing} cannot be read"):
        connect(url(tls, ssl_ca_certs=missing), embedded_dir=str(tmp_path))


def test_the_cluster_form_over_tls_checks_the_seed_the_same_way(tls: TlsSetup, tmp_path: Path) -> None:
    cluster_url = url(tls, ssl_ca_certs=str(tls.other_ca.path)).replace("rediss://", "rediss+cluster://")
    with pytest.raises(RedisTlsError, match="TLS refused"):
        connect(cluster_url, embedded_dir=str(tmp_path))
