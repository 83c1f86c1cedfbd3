"""Engine processes sharing one Redis: the waiting calls of one that died are abandoned
by a survivor (no ghost in the queue), callbacks are kept, and a Redis outage does
not make live engines look dead."""

from __future__ import annotations

import calendar
from typing import Any

from ivr.call import CallRunner
from ivr.flow import actions as a_
from ivr.flow import events as e
from ivr.identity import synthetic_inn
from ivr.ops.instances import InstanceRegistry

NOON = calendar.timegm((2026, 3, 18, 9, 0, 0))


class Wall:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


def walk_to_queue(engine, registry: InstanceRegistry, call_id: str, *, callback: bool = False) -> CallRunner:  # type: ignore[no-untyped-def]
    registry.call_started(call_id)  # the FastAGI server's call factory does it, before the menu
    runner = CallRunner(menu=engine.menus.get("hotline"), services=engine.services(), clock=engine.clock)
    runner.start(e.CallStarted(call_id, "+79990005501", "88005553535", NOON,
                               appeal=engine.services().allocate_appeal()))
    for event in (e.DigitsEntered("1", NOON), e.Recorded("clip", NOON),
                  e.DigitsEntered(synthetic_inn(5501), NOON), e.DigitsEntered("1", NOON),
                  e.DigitsEntered("4", NOON), e.DigitsEntered("1", NOON)):
        runner.handle(event)
    if callback:
        runner.handle(e.DigitsEntered("1", NOON))  # "перезвоните мне"
        runner.handle(e.DigitsEntered("1", NOON))  # on the caller's own number
    return runner


def test_a_dead_engines_waiting_calls_are_abandoned_by_a_survivor(make_engine) -> None:  # type: ignore[no-untyped-def]
    engine = make_engine(clock=lambda: NOON)
    wall = Wall()
    a = InstanceRegistry(redis=engine.redis, router=engine.router, instance_id="a", wall=wall)
    b = InstanceRegistry(redis=engine.redis, router=engine.router, instance_id="b", wall=wall)
    a.tick(), b.tick()
    # w4: an operator is reserved and the menu decides to connect, but the engine dies
    # before Asterisk has IVR_STATUS=connect (its session has not ended)
    connecting = walk_to_queue(engine, a, "w4")
    engine.router.set_operator_state("op102", "available")
    media = connecting.handle(e.NoInput(NOON))
    assert any(isinstance(x, a_.Connect) for x in media)
    walk_to_queue(engine, a, "w1")  # waiting in line
    walk_to_queue(engine, a, "w2", callback=True)  # a callback booked; the session ended
    walk_to_queue(engine, a, "w3").handle(e.HungUp(NOON))  # hung up; the session ended
    a.call_ended("w2"), a.call_ended("w3")
    assert engine.redis.scard(a.calls_key("a")) == 4  # noted; out of the set at the next beat
    a.tick()
    assert engine.redis.smembers(a.calls_key("a")) == {b"w1", b"w4"}
    assert engine.router.status("w4").state == "reserved"
    for _ in range(40):  # a is killed: it beats no more; b goes on
        wall.now += 1
        b.tick()
    assert engine.router.status("w1").state == "abandoned"
    assert engine.router.status("w4").state == "abandoned"  # the reservation is released
    op = engine.router.operator_status("op102")  # free again: he now calls w2 back
    assert op.state == "reserved" and op.assignment is not None and op.assignment.call_id == "w2"
    assert op.assignment.kind == "callback"  # the citizen still gets the call
    assert b.reaped == 2 and engine.redis.exists(a.calls_key("a")) == 0
    assert engine.redis.hkeys(b.engines_key) == [b"b"]
    events = engine.router.events()
    assert any(f.get("type") == "abandoned" and f.get("node") == "engine_lost" for _, f in events)


def test_a_redis_outage_does_not_make_live_engines_look_dead(make_engine) -> None:  # type: ignore[no-untyped-def]
    engine = make_engine(clock=lambda: NOON)
    wall = Wall()
    a = InstanceRegistry(redis=engine.redis, router=engine.router, instance_id="a", wall=wall)

    class Down:
        def __getattr__(self, name: str) -> Any:
            raise ConnectionError("redis is restarting")

    b = InstanceRegistry(redis=engine.redis, router=engine.router, instance_id="b", wall=wall)
    a.tick(), b.tick()
    walk_to_queue(engine, a, "w1")
    wall.now += 40
    b.redis, a_redis = Down(), a.redis
    a.redis = Down()
    assert b.tick() == 0 and a.tick() == 0  # both cut off for 40 s: nobody beats
    b.redis, a.redis = engine.redis, a_redis
    wall.now += 1
    assert b.tick() == 0  # b is back, but not for a whole lease yet
    a.tick()  # a is back too and beats
    for _ in range(40):
        wall.now += 1
        a.tick(), b.tick()
    assert engine.router.status("w1").state == "waiting"
    assert b.reaped == 0


def test_a_clean_stop_leaves_nothing_behind(make_engine) -> None:  # type: ignore[no-untyped-def]
    engine = make_engine(clock=lambda: NOON)
    a = InstanceRegistry(redis=engine.redis, router=engine.router, instance_id="a")
    a.tick()
    a.leave()
    assert engine.redis.hlen(a.engines_key) == 0


def test_a_fastagi_call_is_its_instances_while_it_lasts_and_the_loop_never_waits_on_redis_for_it(make_engine) -> None:  # type: ignore[no-untyped-def]
    """The record of a FastAGI call is written when its session starts, from the server's
    service pool (Redis slow for a moment must not stall the loop every call's audio
    commands go through), and removed at the beat after it ended, with the beat."""
    import threading

    from ivr.asterisk.peer import default_env
    from tests.asterisk.fake_asterisk import FakeCall, ScriptedCaller
    from tests.ops.callers import through_fastagi

    engine = make_engine(clock=lambda: NOON)
    registry = engine.instances
    assert registry is not None
    asked: list[tuple[str, str]] = []

    class Watched:  # the registry's Redis, noting which thread asks it what
        def __init__(self, inner: Any) -> None:
            self.inner = inner

        def __getattr__(self, name: str) -> Any:
            command = getattr(self.inner, name)
            if name not in ("sadd", "srem"):
                return command
            return lambda *args: (asked.append((name, threading.current_thread().name)), command(*args))[1]

    registry.redis = Watched(engine.redis)
    during: list[bool] = []

    class Caller(ScriptedCaller):
        def hear(self, kind: str, what: str, escape: str) -> str | None:
            during.append(bool(engine.redis.sismember(registry.calls_key(registry.id), "i.1")))
            return super().hear(kind, what, escape)

    through_fastagi(engine, FakeCall(caller=Caller("1", hang_up_on="identity.say_name"),
                                     env=default_env(caller="79990004404", uniqueid="i.1")))
    assert during and all(during)
    assert [name for name, _ in asked] == ["sadd"] and asked[0][1].startswith("fastagi-service"), asked
    assert engine.redis.smembers(registry.calls_key(registry.id)) == {b"i.1"}  # ended, noted
    registry.tick()
    assert engine.redis.smembers(registry.calls_key(registry.id)) == set()


def test_calls_ended_while_redis_is_down_are_forgotten_at_a_later_beat(make_engine) -> None:  # type: ignore[no-untyped-def]
    engine = make_engine(clock=lambda: NOON)
    a = InstanceRegistry(redis=engine.redis, router=engine.router, instance_id="a", wall=Wall())
    a.call_started("x1"), a.call_started("x2")
    a.call_ended("x1")

    class Down:
        def __getattr__(self, name: str) -> Any:
            raise ConnectionError("redis is restarting")

    a.redis = Down()
    a.call_ended("x2")
    assert a.tick() == 0
    a.redis = engine.redis
    a.tick()
    assert engine.redis.scard(a.calls_key("a")) == 0
