"""Who gets which call: priority, aging, widening, language, idle order, repeat callers."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from ivr.config.schema import QueueConfig, RoutingSettings, Widening
from routing.engine import Router
from routing.errors import (
    InvalidAppeal,
    InvalidTransition,
    UnknownCall,
    UnknownOperator,
    UnknownQueue,
)
from tests.routing.conftest import QUEUES, FakeClock, RouterFactory, call, op, operators


def serve_order(router: Router, clock: FakeClock, op_id: str, n: int) -> list[str]:
    """Let ``op_id`` take ``n`` calls one after another; the order they came in."""
    order = []
    for _ in range(n):
        router.set_operator_state(op_id, "available")
        st = router.operator_status(op_id)
        assert st.state == "reserved", st
        assert st.assignment is not None
        order.append(st.assignment.call_id)
        router.connected(st.assignment.call_id)
        clock.advance(1)
        router.ended(st.assignment.call_id)
    return order


def test_priority_first_then_waiting_time(make_router: RouterFactory, clock: FakeClock) -> None:
    router = make_router(operators(a=op({"general": 5})))
    router.enqueue(call("c1", clock.now))
    router.enqueue(call("c2", clock.advance(10)))
    router.enqueue(call("c3", clock.advance(10), priority=1))
    assert router.status("c3").position == 1
    assert router.status("c1").position == 2
    assert serve_order(router, clock, "a", 3) == ["c3", "c1", "c2"]


def test_priority_ages_with_waiting_time(make_router: RouterFactory, clock: FakeClock) -> None:
    # One point of priority is worth 60 / 0.2 = 300 s of waiting.
    router = make_router(operators(a=op({"general": 5})))
    router.enqueue(call("old", clock.now))
    p = router.enqueue(call("new", clock.advance(400), priority=1))
    assert p.position == 2
    assert p.effective_priority == pytest.approx(1.0)
    assert serve_order(router, clock, "a", 2) == ["old", "new"]


def test_required_proficiency_widens_with_waiting(
    make_router: RouterFactory, clock: FakeClock
) -> None:
    # Default widening: proficiency 3 at once, 2 after 60 s, 1 after 180 s.
    router = make_router(operators(novice=op({"general": 1}), junior=op({"general": 2})))
    router.set_operator_state("novice", "available")
    router.enqueue(call("c1", clock.now))
    assert router.status("c1").state == "waiting"
    clock.advance(59)
    assert router.assign() == []
    router.set_operator_state("junior", "available")
    assert router.status("c1").state == "waiting"
    clock.advance(2)
    [a] = router.assign()
    assert (a.call_id, a.operator_id) == ("c1", "junior")
    router.connected("c1")

    router.enqueue(call("c2", clock.now))
    clock.advance(179)
    assert router.assign() == []
    clock.advance(2)
    [b] = router.assign()
    assert (b.call_id, b.operator_id) == ("c2", "novice")


def test_language_must_match(make_router: RouterFactory, clock: FakeClock) -> None:
    router = make_router(operators(ru=op({"general": 5}), en=op({"general": 5}, ("ru", "en"))))
    router.set_operator_state("ru", "available")
    p = router.enqueue(call("c-en", clock.now, language="en"))
    assert p.assignment is None
    router.set_operator_state("en", "available")
    assert router.operator_status("en").assignment is not None
    assert router.status("c-en").assignment.operator_id == "en"  # type: ignore[union-attr]


def test_longest_idle_operator_gets_the_call(make_router: RouterFactory, clock: FakeClock) -> None:
    router = make_router(
        operators(a=op({"general": 5}), b=op({"general": 5}), c=op({"general": 5}))
    )
    router.set_operator_state("b", "available")
    clock.advance(5)
    router.set_operator_state("c", "available")
    clock.advance(5)
    router.set_operator_state("a", "available")
    p1 = router.enqueue(call("c1", clock.now))
    p2 = router.enqueue(call("c2", clock.now))
    assert p1.assignment is not None and p1.assignment.operator_id == "b"
    assert p2.assignment is not None and p2.assignment.operator_id == "c"
    assert p1.assignment.endpoint == "PJSIP/b"
    assert p1.assignment.context["name"] == "Иванов И. И."


def test_best_call_for_a_freed_operator_across_queues(
    make_router: RouterFactory, clock: FakeClock
) -> None:
    router = make_router(operators(a=op({"general": 5, "payments": 5})))
    router.enqueue(call("g", clock.now))
    router.enqueue(call("p", clock.now - 30, queue="payments"))
    assert serve_order(router, clock, "a", 2) == ["p", "g"]


def test_repeat_caller_with_unresolved_appeal_is_boosted(
    make_router: RouterFactory, clock: FakeClock
) -> None:
    router = make_router(operators(a=op({"general": 5})))
    book = router.appeals
    open_number = book.allocate()
    book.open(open_number, ["inn:aaa"], "application_status", at=clock.now - 3 * 86400)
    done_number = book.allocate()
    book.open(done_number, ["inn:bbb"], "payments", at=clock.now - 86400)
    book.set_status(done_number, "completed", operator="a", at=clock.now - 3600)

    router.enqueue(call("first", clock.now))
    p_resolved = router.enqueue(call("resolved", clock.advance(1), identity=("inn:bbb",)))
    p_repeat = router.enqueue(call("repeat", clock.advance(1), identity=("tel:zzz", "inn:aaa")))
    assert not p_resolved.repeat_caller
    assert p_repeat.repeat_caller and p_repeat.position == 1
    assert p_repeat.effective_priority == pytest.approx(RoutingSettings().repeat_boost)
    assert serve_order(router, clock, "a", 3) == ["repeat", "first", "resolved"]


def test_a_first_time_caller_is_not_a_repeat_caller_because_of_the_appeal_of_this_call(
    make_router: RouterFactory, clock: FakeClock
) -> None:
    import dataclasses

    router = make_router(operators(a=op({"general": 5})))
    own = router.appeals.allocate()
    first = dataclasses.replace(call("new", clock.now, identity=("inn:new",)), appeal=own,
                                appeal_topic="payments")
    placed = router.enqueue(first)
    assert not placed.repeat_caller
    appeal = router.appeals.get(own)  # opened as the call joined the line
    assert appeal is not None and appeal.topic == "payments" and appeal.identity_keys == ("inn:new",)
    assert not router.enqueue(first).repeat_caller  # a retry: the same
    again = dataclasses.replace(call("later", clock.advance(60), identity=("inn:new",)),
                                appeal=router.appeals.allocate())
    assert router.enqueue(again).repeat_caller  # the first call's appeal is still open
    with pytest.raises(InvalidAppeal):
        router.enqueue(dataclasses.replace(call("bad", clock.now), appeal="0000000001"))


def test_a_retried_enqueue_keeps_the_repeat_callers_boost(
    make_router: RouterFactory, clock: FakeClock
) -> None:
    router = make_router(operators(a=op({"general": 5})))
    number = router.appeals.allocate()
    router.appeals.open(number, ["inn:aaa"], "forms", at=clock.now - 86400)
    first = router.enqueue(call("r", clock.now, identity=("inn:aaa",)))
    router.appeals.set_status(number, "approved", operator="a")  # resolved meanwhile
    again = router.enqueue(call("r", clock.now, identity=("inn:aaa",)))
    assert first.repeat_caller and again.repeat_caller
    assert again.effective_priority == first.effective_priority


def test_repeat_caller_over_several_identities_and_appeals(
    make_router: RouterFactory, clock: FakeClock
) -> None:
    router = make_router(operators(a=op({"general": 5})))
    book = router.appeals
    by_snils, by_both, old = (book.allocate() for _ in range(3))
    book.open(old, ["inn:a"], "payments", at=clock.now - 90 * 86400)
    book.open(by_snils, ["snils:b"], "benefits")
    book.set_status(by_snils, "approved", operator="a")
    assert not router.enqueue(call("only_old", clock.now, identity=("inn:a",))).repeat_caller
    assert not router.enqueue(call("only_done", clock.now, identity=("snils:b",))).repeat_caller
    book.open(by_both, ["inn:a", "snils:b"], "signin")  # unresolved, beside the approved one
    for n, identity in enumerate((("snils:b",), ("tel:c", "inn:a"))):
        assert router.enqueue(call(f"again{n}", clock.now, identity=identity)).repeat_caller
    assert not router.enqueue(call("other", clock.now, identity=("tel:c",))).repeat_caller


def test_appeal_outside_the_window_gives_no_boost(
    make_router: RouterFactory, clock: FakeClock
) -> None:
    router = make_router(operators(a=op({"general": 5})))
    number = router.appeals.allocate()
    router.appeals.open(number, ["inn:old"], "forms", at=clock.now - 30 * 86400)
    assert not router.enqueue(call("c", clock.now, identity=("inn:old",))).repeat_caller


def test_special_topic_goes_first(make_router: RouterFactory, clock: FakeClock) -> None:
    router = make_router(operators(a=op({"general": 5, "special": 5})))
    router.enqueue(call("patient", clock.now, priority=5))
    clock.advance(3600)
    router.enqueue(call("urgent", clock.now, queue="special"))
    assert serve_order(router, clock, "a", 2) == ["urgent", "patient"]


def test_enqueue_is_idempotent(make_router: RouterFactory, clock: FakeClock) -> None:
    router = make_router()
    router.enqueue(call("c1", clock.now))
    router.enqueue(call("c2", clock.now))
    again = router.enqueue(call("c1", clock.now))
    assert again.position == 1
    assert [s.waiting for s in router.snapshot() if s.queue == "general"] == [2]


def test_unknown_things_raise(make_router: RouterFactory, clock: FakeClock) -> None:
    router = make_router(operators(a=op({"general": 5})))
    with pytest.raises(UnknownQueue):
        router.enqueue(dataclasses.replace(call("c", clock.now), queue="nope"))
    with pytest.raises(UnknownOperator):
        router.set_operator_state("nobody", "available")
    with pytest.raises(UnknownCall):
        router.connected("nope")
    assert router.status("nope").state == "gone"


def test_operator_transitions(make_router: RouterFactory, clock: FakeClock) -> None:
    router = make_router(
        operators(a=op({"general": 5})), settings=RoutingSettings(wrap_up_seconds=30)
    )
    with pytest.raises(InvalidTransition):
        router.set_operator_state("a", "on_call")
    router.set_operator_state("a", "available")
    router.enqueue(call("c1", clock.now))
    with pytest.raises(InvalidTransition) as err:
        router.set_operator_state("a", "offline")
    assert err.value.details["current"] == "reserved"
    router.connected("c1")
    assert router.operator_status("a").state == "on_call"
    with pytest.raises(InvalidTransition):
        router.set_operator_state("a", "break")
    router.ended("c1")
    assert router.status("c1").state == "gone"
    assert router.operator_status("a").state == "wrap_up"
    clock.advance(29)
    router.assign()
    assert router.operator_status("a").state == "wrap_up"
    clock.advance(2)
    router.assign()
    assert router.operator_status("a").state == "available"
    router.set_operator_state("a", "break")
    router.enqueue(call("c2", clock.now))
    assert router.status("c2").state == "waiting"


@pytest.mark.parametrize("wrap_up", [30, 0])
def test_a_state_asked_for_during_a_call_is_taken_when_its_wrap_up_ends(
    make_router: RouterFactory, clock: FakeClock, wrap_up: int
) -> None:
    router = make_router(
        operators(a=op({"general": 5})), settings=RoutingSettings(wrap_up_seconds=wrap_up)
    )
    with pytest.raises(InvalidTransition):
        router.after_call("a", "offline")  # offline: no call to wait for
    router.set_operator_state("a", "available")
    with pytest.raises(InvalidTransition):
        router.after_call("a", "offline")  # available: set at once instead
    router.enqueue(call("c1", clock.now))
    router.connected("c1")
    with pytest.raises(InvalidTransition):
        router.after_call("a", "break")  # not in AFTER_CALL
    router.after_call("a", "offline")
    assert router.operator_status("a").state == "on_call"
    router.enqueue(call("c2", clock.now))
    router.ended("c1")
    clock.advance(wrap_up + 1)
    router.assign()
    assert router.operator_status("a").state == "offline"
    assert router.status("c2").state == "waiting"  # nobody took it
    assert not any(int(v) for v in router.redis.hgetall(router.keys.staff).values())
    router.set_operator_state("a", "available")  # back: the next call comes, no request left
    assert router.status("c2").state == "reserved"
    router.connected("c2")
    router.ended("c2")
    clock.advance(wrap_up + 1)
    router.assign()
    assert router.operator_status("a").state == "available"


@pytest.mark.parametrize("how", ["abandoned", "expired"])
def test_a_state_asked_for_while_a_call_rings_is_taken_when_it_does_not_come(
    make_router: RouterFactory, clock: FakeClock, how: str
) -> None:
    router = make_router(operators(a=op({"general": 5})))
    router.set_operator_state("a", "available")
    router.enqueue(call("c1", clock.now))
    router.enqueue(call("c2", clock.now))
    router.after_call("a", "offline")  # reserved for c1: no conversation at all
    if how == "abandoned":
        router.abandon("c1")
    else:
        clock.advance(router.settings.reservation_seconds + 1)
        router.assign()
    assert router.operator_status("a").state == "offline"
    assert router.status("c2").state == "waiting"


def test_a_state_asked_for_after_the_call_is_withdrawn_or_replaced(
    make_router: RouterFactory, clock: FakeClock
) -> None:
    router = make_router(
        operators(a=op({"general": 5})), settings=RoutingSettings(wrap_up_seconds=30)
    )
    router.set_operator_state("a", "available")
    for cid, choice in (("c1", None), ("c2", "available")):
        router.enqueue(call(cid, clock.now))
        router.connected(cid)
        router.after_call("a", "offline")
        if choice is None:
            router.after_call("a", None)  # withdrawn
        router.ended(cid)
        if choice is not None:
            router.set_operator_state("a", choice)  # "ready now" in wrap-up replaces it
        clock.advance(31)
        router.assign()
        assert router.operator_status("a").state == "available"


def test_wrap_up_can_end_early(make_router: RouterFactory, clock: FakeClock) -> None:
    router = make_router(operators(a=op({"general": 5})))
    router.set_operator_state("a", "available")
    router.enqueue(call("c1", clock.now))
    router.enqueue(call("c2", clock.now))
    router.connected("c1")
    router.ended("c1")
    assert router.status("c2").state == "waiting"
    router.set_operator_state("a", "available")
    assert router.status("c2").state == "reserved"


def test_overflow_after_max_wait(make_router: RouterFactory, clock: FakeClock) -> None:
    queues = {
        **QUEUES,
        "general": QueueConfig(skills=("general",), max_wait=120, overflow="payments"),
    }
    router = make_router(operators(p=op({"payments": 5})), queues=queues)
    router.enqueue(call("c1", clock.now))
    clock.advance(121)
    router.assign()
    st = router.status("c1")
    assert (st.state, st.overflow_to) == ("overflowed", "payments")
    moved = call("c1", clock.now - 121, queue="payments")
    router.set_operator_state("p", "available")
    assert router.enqueue(moved).assignment is not None


def test_widening_steps_from_config(make_router: RouterFactory, clock: FakeClock) -> None:
    queues = {
        "general": QueueConfig(skills=("general",), widening=(Widening(0, 5), Widening(10, 4)))
    }
    router = make_router(operators(a=op({"general": 4})), queues=queues)
    router.set_operator_state("a", "available")
    router.enqueue(call("c1", clock.now))
    assert router.status("c1").state == "waiting"
    clock.advance(10)
    assert [a.call_id for a in router.assign()] == ["c1"]


def test_an_eligible_call_deep_in_line_is_found(
    make_router: RouterFactory, clock: FakeClock
) -> None:
    # 80 fresh priority calls (proficiency 3 needed) stand ahead of one call that has waited
    # long enough for a novice; the novice gets that one, however deep it stands.
    router = make_router(operators(novice=op({"general": 1})))
    router.enqueue(call("old", clock.now))
    clock.advance(200)
    for i in range(80):
        router.enqueue(call(f"p{i:02d}", clock.now, priority=3))
    assert router.status("old").position == 81
    a = router.set_operator_state("novice", "available")
    assert a is not None and a.call_id == "old"


def test_new_widening_rules_apply_to_calls_already_waiting(
    make_router: RouterFactory, clock: FakeClock
) -> None:
    strict = {"general": QueueConfig(skills=("general",), widening=(Widening(0, 5),))}
    lenient = {"general": QueueConfig(skills=("general",), widening=(Widening(0, 2),))}
    ops = operators(a=op({"general": 2}))
    before = make_router(ops, queues=strict)
    before.enqueue(call("c1", clock.now))
    before.set_operator_state("a", "available")
    assert before.status("c1").state == "waiting"
    after = make_router(ops, queues=lenient)  # a configuration reload, same Redis
    placed = after.enqueue(call("c2", clock.advance(1)))  # the class follows the new rules
    assert placed.assignment is not None and placed.assignment.operator_id == "a"
    after.connected("c2")
    after.ended("c2")
    a = after.set_operator_state("a", "available")
    assert a is not None and a.call_id == "c1"


def test_set_operator_state_returns_the_assignment(
    make_router: RouterFactory, clock: FakeClock
) -> None:
    router = make_router(operators(a=op({"general": 5})))
    assert router.set_operator_state("a", "available") is None
    router.set_operator_state("a", "break")
    router.enqueue(call("c1", clock.now))
    a = router.set_operator_state("a", "available")
    assert a is not None and (a.call_id, a.operator_id, a.endpoint) == ("c1", "a", "PJSIP/a")


def test_a_reserved_call_leaves_no_trace_in_the_matching_sets(
    make_router: RouterFactory, clock: FakeClock, redis: Any
) -> None:
    """A reservation takes the call out of every eligibility and pending set, whatever it had
    waited: not yet 60 s (pending for levels 2 and 1), past 60 s, past 180 s, exactly 60 s
    (eligible by the widening rule, on the boundary of the pending sets' cutoff)."""
    router = make_router(operators(
        a=op({"general": 3}), b=op({"general": 2}), c=op({"general": 1}), d=op({"general": 2})))
    tag = router.keys.tag

    def sets_holding(call_id: str) -> list[str]:
        names = [k for k in redis.scan_iter(match=f"{tag}:*", count=1000)
                 if any(f":{f}:" in k.decode() for f in ("el", "ec", "pend"))]
        return sorted(k.decode() for k in names if redis.zscore(k, call_id) is not None)

    router.enqueue(call("now", clock.now))
    assert len(sets_holding("now")) == 3  # el:<class>:0, pend:<class>:60, pend:<class>:180
    router.set_operator_state("a", "available")  # level 3: takes it at once
    assert router.operator_status("a").assignment.call_id == "now"  # type: ignore[union-attr]
    assert sets_holding("now") == []
    router.connected("now")  # on the phone: no reservation to expire while the clock moves

    for name, waited, taker in (("past60", 61.0, "b"), ("past180", 181.0, "c"), ("at60", 60.0, "d")):
        router.enqueue(call(name, clock.now))
        clock.advance(waited)
        assert len(sets_holding(name)) == 3
        router.set_operator_state(taker, "available")
        st = router.operator_status(taker)
        assert st.assignment is not None and st.assignment.call_id == name, (name, st)
        assert sets_holding(name) == [], name
        router.connected(name)
