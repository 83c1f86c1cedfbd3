"""The Python key templates and the Lua scripts name the same keys; connecting."""

from __future__ import annotations

from typing import Any

from routing.estimates import class_of
from routing.redis_conn import connect, is_cluster_url
from tests.routing.conftest import FakeClock, RouterFactory, call, op, operators


def _type(redis: Any, key: str) -> str:
    t = redis.type(key)
    return t.decode() if isinstance(t, bytes) else str(t)


def test_scripts_use_the_key_templates(
    make_router: RouterFactory, clock: FakeClock, redis: Any
) -> None:
    router = make_router(operators(a=op({"general": 5}), b=op({"general": 5})))
    router.set_operator_state("a", "available")
    router.set_operator_state("b", "available")
    router.enqueue(call("c1", clock.now))
    router.connected("c1")
    router.enqueue(call("c2", clock.now))
    router.enqueue(call("c3", clock.now))
    router.request_callback("c3", "+79160000009")
    k = router.keys
    klass = class_of("general", "ru", ["general"])
    expected = {
        k.call("c1"): "hash",
        k.operator("a"): "hash",
        k.operators: "set",
        k.wait(klass): "zset",
        k.classes: "hash",
        k.active: "set",
        k.queue_waiting("general"): "zset",
        k.queue_callbacks("general"): "zset",
        k.reserved: "zset",
        k.callback_numbers: "hash",
        k.staff: "hash",
        k.stats(router._day(clock.now), "general"): "hash",
        k.events: "stream",
        # derived indexes (c3, a callback that has waited 0 s)
        k.eligible(klass, "0", callbacks=True): "zset",
        k.callback_classes: "set",
        k.pending(klass, "60"): "zset",
        k.pending_due: "hash",
        k.active_by("ru"): "set",
        k.active_by("ru", "general"): "set",
        k.meta: "hash",
        k.schema: "string",
    }
    assert {key: _type(redis, key) for key in expected} == expected
    assert all(key.startswith("{" + k.prefix + "}:") for key in expected)
    router.ended("c1")
    router.set_operator_state("a", "available")  # takes the callback c3
    router.connected("c2")
    router.ended("c2")
    router.set_operator_state("b", "available")  # nothing left: idle
    idle = {k.idle: "zset", k.idle_by("ru", "general", 5): "zset", k.idle_by("ru", "*"): "zset"}
    assert {key: _type(redis, key) for key in idle} == idle


def test_connect_urls(tmp_path: Any) -> None:
    assert is_cluster_url("redis+cluster://127.0.0.1:7000")
    assert is_cluster_url("redis://127.0.0.1:7000?cluster=1")
    assert not is_cluster_url("redis://127.0.0.1:6379/0")
    embedded = connect(None, embedded_dir=str(tmp_path / "redis"))
    assert embedded.ping()
    embedded.set("{ivr}:x", "1")
    assert embedded.get("{ivr}:x") == b"1"
