"""docs/scale-out.md, shown working: two ``ivr serve`` processes on one redis-server,
and the web tier (HTTP-only processes sharing a port).  Loopback only; every wait is bounded."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from ivr.asterisk.peer import default_env
from ivr.config import load_config
from ivr.softphone import wire
from routing.engine import Router
from routing.redis_conn import connect
from tests.redis_servers import RedisClusterNodes, RedisServer

from .callers import MenuCaller, place_call
from .engines import RECORDING_KEY, ROOT, EngineProcess, free_port, write_config


@pytest.fixture
def aof_redis() -> Iterator[RedisServer]:
    server = RedisServer(appendonly=True).start()
    yield server
    server.close()


def router_for(config_path: Path, url: str) -> Router:
    """What the operator console (and Asterisk's AMI events) do, from outside the engines."""
    config = load_config(config_path)
    return Router(redis=connect(url, embedded_dir="unused"), queues=config.queues,
                  operators=config.operators, settings=config.routing, calendar=config.calendar,
                  prefix=config.redis.prefix)


def test_two_engines_one_redis_a_callback_booked_in_one_is_assigned_by_the_other(
    tmp_path: Path, aof_redis: RedisServer
) -> None:
    line = socket.create_server(("127.0.0.1", 0))
    config = write_config(tmp_path, prefix="two", routing={"wrap_up_seconds": 1},
                          engine={"drain_seconds": 2})
    a = EngineProcess("a", config=config, redis_url=aof_redis.url, directory=tmp_path)
    b = EngineProcess("b", config=config, redis_url=aof_redis.url, directory=tmp_path)
    started = [threading.Thread(target=e.start) for e in (a, b)]
    for t in started:
        t.start()
    for t in started:
        t.join()
    try:
        router = router_for(config, aof_redis.url)
        router.set_operator_state("op102", "available")  # the only payments operator
        # A call into A is given to op102 at once; the dialplan bridges, AMI says "connected".
        p = place_call(a.fastagi, MenuCaller(numbers=["000073011234"]),
                       default_env(caller="79990006001", uniqueid="p.1"))
        assert p.variables.get("IVR_STATUS") == "connect" and p.variables["IVR_OPERATOR"] == "op102"
        router.connected("p.1")
        # Two more calls, one into each engine: nobody free, each books a callback.  These
        # engines have no AMI: the callers are softphones that say where they answer (a
        # line that accepts the ring and never picks up: the callback stays reserved).
        softphone = {wire.ENV_KEY: f"127.0.0.1:{line.getsockname()[1]}"}
        q = place_call(a.fastagi, MenuCaller(numbers=["000073011234"], callback="own"),
                       {**default_env(caller="79990006002", uniqueid="q.1"), **softphone})
        r = place_call(b.fastagi, MenuCaller(numbers=["000073011234"], callback="own"),
                       {**default_env(caller="79990006003", uniqueid="r.1"), **softphone})
        assert "callback.booked" in q.heard and "callback.booked" in r.heard
        # Shared state: either engine shows both callbacks.
        for engine in (a, b):
            queues = {x["queue"]: x for x in engine.json("/queues", ops=True)["queues"]}
            assert queues["payments"]["callbacks_pending"] == 2
        assert a.stop() == 0  # A drains and stops; from now on only B works
        router.ended("p.1")  # op102 wraps up for a second, then B's tick gives him a callback
        deadline = time.monotonic() + 10
        while router.status("q.1").state != "reserved" and time.monotonic() < deadline:
            time.sleep(0.1)
        status = router.status("q.1")
        assert status.state == "reserved" and status.assignment is not None
        assert status.assignment.kind == "callback" and status.assignment.operator_id == "op102"
        assert router.status("r.1").state == "callback"  # still in line, behind q.1
        deadline = time.monotonic() + 5
        while b.metric("ivr_routing_assignments_total", kind="callback") < 1 and time.monotonic() < deadline:
            time.sleep(0.2)
        assert b.metric("ivr_routing_assignments_total", queue="payments", kind="callback") == 1
        assert b.metric("ivr_queue_callbacks_pending", queue="payments") == 2  # until answered
        log_b = b.log.read_text()
        assert '"call_id": "r.1"' in log_b and "79990006003" not in log_b
    finally:
        a.kill()
        b.stop()
        line.close()


def test_web_processes_share_one_http_port(tmp_path: Path, aof_redis: RedisServer) -> None:
    """The web tier: ``ivr serve --fastagi off`` twice on one port (``http.reuse_port``);
    either answers, and the port goes on answering when one of them stops."""
    config = write_config(tmp_path, prefix="web")
    data = yaml.safe_load(config.read_text(encoding="utf-8"))
    data["http"] = {"reuse_port": True}
    config.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")
    port = free_port()
    env = {**os.environ, "REDIS_URL": aof_redis.url, "IVR_RECORDING_KEY": RECORDING_KEY}
    procs = []
    ops = [free_port(), free_port()]  # each process its own: its own metrics
    for n in range(2):
        with open(tmp_path / f"web-{n}.log", "wb") as out:
            procs.append(subprocess.Popen(
                [sys.executable, "-m", "ivr.cli", "--config", str(config), "serve", "--fastagi", "off",
                 "--http", f"127.0.0.1:{port}", "--ops-http", f"127.0.0.1:{ops[n]}"], stdout=out, stderr=out, env=env, cwd=ROOT))
    probe = EngineProcess("probe", config=config, redis_url=aof_redis.url, directory=tmp_path, http_port=port,
                          ops_port=ops[1])
    logs = lambda: "".join((tmp_path / f"web-{n}.log").read_text()[-1500:] for n in range(2))
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and all(p.poll() is None for p in procs):
            if "listening" in (tmp_path / "web-1.log").read_text() and "listening" in (tmp_path / "web-0.log").read_text():
                break
            time.sleep(0.1)
        assert all(p.poll() is None for p in procs), logs()
        deadline = time.monotonic() + 10
        while probe.get("/readyz")[0] != 200 and time.monotonic() < deadline:
            time.sleep(0.1)
        assert probe.json("/readyz")["ready"] is True
        assert probe.metric("ivr_redis_up") == 1
        procs[0].send_signal(signal.SIGTERM)
        assert procs[0].wait(15) == 0, logs()
        for _ in range(20):  # every new connection now reaches the one left
            assert probe.get("/healthz")[0] == 200
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(15)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait(5)
    assert procs[1].returncode == 0, logs()


@pytest.mark.cluster
def test_an_engine_process_on_a_redis_cluster(tmp_path: Path) -> None:
    cluster = RedisClusterNodes().start()
    config = write_config(tmp_path, prefix="cl")
    engine = EngineProcess("c", config=config, redis_url=cluster.url, directory=tmp_path)
    try:
        engine.start()
        router = router_for(config, cluster.url)
        router.set_operator_state("op104", "available")
        call = place_call(engine.fastagi, MenuCaller(numbers=["000073011234"], topic="7"),
                          default_env(caller="79990006101", uniqueid="cl.1"))
        assert call.variables.get("IVR_STATUS") == "connect" and call.variables["IVR_OPERATOR"] == "op104"
        deadline = time.monotonic() + 5
        while engine.metric("ivr_routing_assignments_total", queue="special") < 1 and time.monotonic() < deadline:
            time.sleep(0.2)
        assert engine.metric("ivr_routing_assignments_total", queue="special", kind="call") == 1
        assert engine.metric("ivr_redis_up") == 1
        assert engine.json("/readyz")["checks"]["redis"] is True
        node = cluster.node_for_tag("cl")  # every key of the hotline on one master
        keys = {k.decode() for k in node.client().keys("*")}
        assert {"{cl}:engines", "{cl}:events"} <= keys
    finally:
        engine.stop()
        cluster.close()
