"""Callbacks keep the caller's place, one per number, retried within the queue's hours."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest

from ivr.config.schema import CallbackRule, QueueConfig
from routing.errors import CallbackExists, InvalidTransition
from routing.hours import Hours, parse_weekly
from tests.routing.conftest import FakeClock, RouterFactory, call, op, operators

MSK = ZoneInfo("Europe/Moscow")


def test_callback_keeps_its_place(make_router: RouterFactory, clock: FakeClock) -> None:
    router = make_router(operators(a=op({"general": 5})))
    for i in (1, 2, 3):
        router.enqueue(call(f"c{i}", clock.advance(1)))
    assert router.status("c3").position == 3
    req = router.request_callback("c3", "+79161234567")
    assert req.callback_id == "cb-c3"
    st = router.status("c3")
    assert (st.state, st.position) == ("callback", 3)
    router.enqueue(call("c4", clock.advance(1)))
    router.enqueue(call("c5", clock.advance(1)))
    assert router.status("c4").position == 4  # the pending callback counts

    served = []
    for _ in range(5):
        router.set_operator_state("a", "available")
        st_a = router.operator_status("a")
        assert st_a.assignment is not None
        served.append(st_a.assignment.call_id)
        if st_a.assignment.kind == "callback":
            [due] = router.due_callbacks()
            assert (due.call_id, due.number, due.operator_id) == ("c3", "+79161234567", "a")
            assert due.context["topic"] == "general"  # the screen-pop the operator sees
            router.callback_result("cb-c3", answered=True)
        else:
            router.connected(st_a.assignment.call_id)
        router.ended(st_a.assignment.call_id)
    assert served == ["c1", "c2", "c3", "c4", "c5"]
    snap = next(s for s in router.snapshot() if s.queue == "general")
    assert snap.callbacks_pending == 0


def test_one_pending_callback_per_number(make_router: RouterFactory, clock: FakeClock) -> None:
    router = make_router()
    router.enqueue(call("c1", clock.now))
    router.enqueue(call("c2", clock.now))
    router.request_callback("c1", "+79161234567")
    assert router.request_callback("c1", "+79161234567").callback_id == "cb-c1"  # a retry
    with pytest.raises(CallbackExists) as err:
        router.request_callback("c2", "+79161234567")
    assert "1234567" not in str(err.value)
    assert err.value.details["callback_id"] == "cb-c1"
    with pytest.raises(InvalidTransition):
        router.abandon("c1")  # the caller hung up after asking: not an abandon
    assert next(s for s in router.snapshot() if s.queue == "general").callbacks_pending == 1


def _at(day: int, hour: int, minute: int = 0) -> float:
    return dt.datetime(2026, 3, day, hour, minute, tzinfo=MSK).timestamp()


def test_retries_only_within_hours_then_failed(
    make_router: RouterFactory, clock: FakeClock
) -> None:
    queues = {
        "general": QueueConfig(
            skills=("general",),
            hours=Hours(weekly=parse_weekly({"daily": "08:00-20:00"})),
            callback=CallbackRule(attempts=2, retry_after=300),
        )
    }
    router = make_router(operators(a=op({"general": 5})), queues=queues)
    clock.now = _at(2, 19, 50)
    router.enqueue(call("c1", clock.now))
    router.request_callback("c1", "+79160000001")
    router.set_operator_state("a", "available")
    [due] = router.due_callbacks()
    assert due.callback_id == "cb-c1"
    clock.advance(30)
    router.callback_result("cb-c1", answered=False)  # 19:50:30 + 5 min would be 19:55:30
    cb = router.callback("cb-c1")
    assert cb is not None and cb.attempts == 1
    assert cb.next_attempt_at == pytest.approx(_at(2, 19, 55) + 30)
    assert router.operator_status("a").state == "available"
    clock.now = _at(2, 19, 56)
    [due] = router.due_callbacks()
    # The second attempt is the last one (attempts=2): no answer -> failed, number freed.
    router.callback_result("cb-c1", answered=False)
    assert router.callback("cb-c1") is None
    types = [e["type"] for _, e in router.events()]
    assert types.count("callback_dialled") == 2
    assert "callback_failed" in types

    # A retry that would fall after closing waits for the next opening.
    router.set_operator_state("a", "break")
    router.enqueue(call("c2", clock.now))
    router.request_callback("c2", "+79160000001")
    router.set_operator_state("a", "available")
    clock.now = _at(2, 19, 58)
    [due] = router.due_callbacks()
    router.callback_result(due.callback_id or "", answered=False)
    cb2 = router.callback("cb-c2")
    assert cb2 is not None and cb2.next_attempt_at == _at(3, 8, 0)
    clock.now = _at(2, 20, 30)
    assert router.due_callbacks() == []
    clock.now = _at(3, 7, 59)
    assert router.due_callbacks() == []
    clock.now = _at(3, 8, 0)
    assert [d.call_id for d in router.due_callbacks()] == ["c2"]


def test_callbacks_wait_while_the_queue_is_closed(
    make_router: RouterFactory, clock: FakeClock
) -> None:
    queues = {
        "general": QueueConfig(
            skills=("general",), hours=Hours(weekly=parse_weekly({"daily": "08:00-20:00"}))
        )
    }
    router = make_router(operators(a=op({"general": 5})), queues=queues)
    clock.now = _at(2, 19, 59)
    router.enqueue(call("c1", clock.now))
    router.request_callback("c1", "+79160000002")
    clock.now = _at(2, 20, 1)
    router.set_operator_state("a", "available")
    assert router.due_callbacks() == []
    clock.now = _at(3, 8, 0)
    assert [d.call_id for d in router.due_callbacks()] == ["c1"]


def test_a_dialer_that_dies_lets_the_callback_keep_its_place(
    make_router: RouterFactory, clock: FakeClock
) -> None:
    router = make_router(operators(a=op({"general": 5}), b=op({"general": 5})))
    router.enqueue(call("c1", clock.now))
    router.enqueue(call("c2", clock.advance(1)))
    router.request_callback("c1", "+79160000003")
    router.set_operator_state("a", "available")
    [_taken] = router.due_callbacks()  # taken by a dialer that then dies
    assert router.due_callbacks() == []  # no one else dials it
    clock.advance(20 + 30 - 1)  # reservation + ring seconds
    assert router.due_callbacks() == []
    clock.advance(2)
    # Expired: back at its place (ahead of c2), so it is the one served again.
    [again] = router.due_callbacks()
    assert (again.call_id, again.operator_id) == ("c1", "a")
    assert router.status("c2").position == 1
    types = [e["type"] for _, e in router.events()]
    assert types.count("reservation_expired") == 1
    assert types.count("callback_dialled") == 2
