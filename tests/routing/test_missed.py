"""An operator who does not answer: the call goes back to the head of its line with
everything collected, the operator is not ready ("missed"), his misses are counted."""

from __future__ import annotations

import pytest

from routing.errors import InvalidTransition
from tests.routing.conftest import FakeClock, RouterFactory, call, op, operators
from tests.routing.test_reliability import all_events, replay


def test_a_missed_call_goes_to_the_head_of_its_line_and_the_operator_is_not_ready(
    make_router: RouterFactory, clock: FakeClock
) -> None:
    router = make_router(operators(a=op({"general": 5}), b=op({"general": 5})))
    router.enqueue(call("c1", clock.now))
    router.set_operator_state("a", "available")
    assert router.status("c1").state == "reserved"
    # A later, more urgent caller joins while c1 rings at a.
    router.enqueue(call("c2", clock.advance(3), priority=5))
    clock.advance(10)

    missed = router.missed("c1", "a", why="NOANSWER")

    assert (missed.misses, missed.again) == (1, None)
    st = router.status("c1")
    assert (st.state, st.position) == ("waiting", 1)  # ahead of the more urgent c2
    assert router.status("c2").position == 2
    a = router.operator_status("a")
    assert (a.state, a.assignment) == ("offline", None)
    assert router.redis.hget(router.keys.operator("a"), "why") == b"missed"
    # Everything collected is still the call's: the next operator's screen-pop.
    router.set_operator_state("b", "available")
    b = router.operator_status("b")
    assert b.assignment is not None and b.assignment.call_id == "c1"
    assert b.assignment.context["name"] == "Иванов И. И."
    types = [e["type"] for _, e in router.events()]
    assert "missed" in types and "abandoned" not in types
    replay(all_events(router))  # never one call to two operators


def test_a_missed_call_is_offered_at_once_to_an_idle_operator(
    make_router: RouterFactory, clock: FakeClock
) -> None:
    router = make_router(operators(a=op({"general": 5}), b=op({"general": 5})))
    router.set_operator_state("a", "available")
    router.set_operator_state("b", "available")
    router.enqueue(call("c1", clock.advance(1)))
    first = router.status("c1").assignment
    assert first is not None
    other = "b" if first.operator_id == "a" else "a"
    missed = router.missed("c1", first.operator_id)
    assert missed.again is not None and missed.again.operator_id == other
    assert router.status("c1").state == "reserved"


def test_misses_in_a_row_are_counted_until_he_answers(
    make_router: RouterFactory, clock: FakeClock
) -> None:
    router = make_router(operators(a=op({"general": 5})))
    for n, cid in enumerate(["c1", "c2"], start=1):
        router.enqueue(call(cid, clock.advance(1)))
        router.set_operator_state("a", "available")
        if n == 2:  # c1, missed before, is at the head: a gets it first
            assert router.status("c1").state == "reserved"
            assert router.missed("c1", "a").misses == 2
            continue
        assert router.missed(cid, "a").misses == 1
    # Setting himself ready clears why; answering resets the count.
    router.set_operator_state("a", "available")
    assert router.redis.hget(router.keys.operator("a"), "why") == b""
    assert router.status("c1").state == "reserved"
    router.connected("c1")
    assert router.redis.hget(router.keys.operator("a"), "misses") == b"0"


def test_a_repeated_or_late_report_changes_nothing(make_router: RouterFactory, clock: FakeClock) -> None:
    router = make_router(operators(a=op({"general": 5}), b=op({"general": 5})))
    router.enqueue(call("c1", clock.now))
    router.set_operator_state("a", "available")
    assert router.missed("c1", "a").misses == 1
    assert router.missed("c1", "a").misses == 0  # the same report again
    router.set_operator_state("b", "available")
    assert router.missed("c1", "a").misses == 0  # c1 now rings at b: a's report is old news
    assert router.operator_status("b").state == "reserved"
    router.connected("c1")
    with pytest.raises(InvalidTransition):
        router.missed("c1", "b")  # answered: too late to miss it


def test_unanswered_lists_calls_ringing_longer_than_the_ring_time(
    make_router: RouterFactory, clock: FakeClock
) -> None:
    router = make_router(operators(a=op({"general": 5})))
    router.enqueue(call("c1", clock.now))
    router.set_operator_state("a", "available")
    clock.advance(9)
    assert router.unanswered(10) == []
    clock.advance(2)
    assert router.unanswered(10) == ["c1"]
    router.connected("c1")
    assert router.unanswered(10) == []
