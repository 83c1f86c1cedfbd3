"""Transfer and the second line, routing's side (issue 18, section 2), on a real Redis.

Every move goes through :class:`ivr.aftermenu.CallLife` (the one table), as the console
makes it: blind to a queue (the head of its line), blind to a named ready operator, the
telephony failing afterwards (the call back to the first operator, or to the head of its
old line), warm (a consultation, then complete or cancel).  After each, nothing is left
reserved that should not be: every operator's record agrees with the call's.
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any

import pytest

from ivr.aftermenu import (
    CallerLeft,
    CallLife,
    ConsultCancelled,
    ConsultCompleted,
    ConsultStarted,
    ConversationEnded,
    OperatorAnswered,
    TransferFailed,
    TransferredToOperator,
    TransferredToQueue,
)
from ivr.aftermenu.legs import Legs
from ivr.config.schema import QueueConfig
from routing.engine import Router
from routing.errors import (
    InvalidTransition,
    RoutingError,
    TransferRefused,
    UnknownOperator,
    UnknownQueue,
)
from routing.hours import Hours, parse_weekly
from tests.routing.conftest import QUEUES, FakeClock, RouterFactory, call, op, operators

SECOND = QueueConfig(skills=("second_line",), name="Вторая линия")
CLOSED = QueueConfig(skills=("second_line",), name="Ночью закрыта",
                     hours=Hours(weekly=parse_weekly({"daily": "00:00-00:01"})))
LINES = {**QUEUES, "second_line": SECOND, "closed_line": CLOSED}


def hotline(make_router: RouterFactory) -> tuple[Router, CallLife]:
    router = make_router(operators(
        a=op({"general": 5}, name="Анна"),
        b=op({"general": 5}, name="Борис"),
        s=op({"second_line": 5}, name="Сергей"),
        t=op({"second_line": 4}, name="Татьяна"),
    ), queues=LINES)
    return router, CallLife(router=router)


def talking(router: Router, life: CallLife, clock: FakeClock, call_id: str = "c1", operator: str = "a") -> None:
    """``call_id`` in the general line, ``operator`` ready, answered: they are talking."""
    wc = call(call_id, clock.now)
    router.enqueue(dataclasses.replace(wc, context={**wc.context, "appeal": ""}))
    router.set_operator_state(operator, "available")
    assert router.status(call_id).assignment.operator_id == operator  # type: ignore[union-attr]
    life.apply(OperatorAnswered(call_id))
    clock.advance(30)


def consistent(router: Router) -> None:
    """Every reserved / on_call operator's call names him (or him for its consultation),
    and every reserved / connected call's operator holds it: nothing left half-reserved."""
    for op_id in router.operators:
        state, held = (x.decode() if x else "" for x in router.redis.hmget(
            router.keys.operator(op_id), "state", "call"))
        if state in ("reserved", "on_call"):
            c_op, c_consult, c_state = (x.decode() if x else "" for x in router.redis.hmget(
                router.keys.call(held), "op", "consult", "state"))
            assert op_id in (c_op, c_consult), (op_id, state, held, c_op, c_consult)
            assert c_state in ("reserved", "connected"), (op_id, held, c_state)
        else:
            assert held == "", (op_id, state, held)


def test_blind_to_the_second_line_puts_the_call_at_the_head_of_its_line(
    make_router: RouterFactory, clock: FakeClock
) -> None:
    router, life = hotline(make_router)
    router.enqueue(dataclasses.replace(call("early", clock.now - 600), queue="second_line", skills=("second_line",)))
    talking(router, life, clock)

    applied = life.apply(TransferredToQueue("c1", by="a", queue="second_line", note="нужна вторая линия"))

    assert applied.again is None  # nobody of the second line is ready
    st = router.status("c1")
    assert (st.state, st.position) == ("waiting", 1)  # ahead of the one who waited 10 minutes
    assert router.status("early").position == 2
    a = router.operator_status("a")
    assert (a.state, a.assignment) == ("wrap_up", None)
    (record,) = router.transfers("c1")
    assert (record["mode"], record["by"], record["by_name"], record["from_queue"], record["to_queue"],
            record["note"], record["at"]) == ("blind", "a", "Анна", "general", "second_line",
                                              "нужна вторая линия", clock.now)
    # The second line's operator gets it, with everything the menu collected.
    router.set_operator_state("s", "available")
    got = router.operator_status("s").assignment
    assert got is not None and got.call_id == "c1" and got.queue == "second_line"
    assert got.context["name"] == "Иванов И. И." and got.context["topic"] == "general"
    consistent(router)
    types = [e["type"] for _, e in router.events()]
    assert types.index("transferred") < len(types) - 1


def test_blind_to_a_queue_with_a_ready_operator_reserves_him_at_once(
    make_router: RouterFactory, clock: FakeClock
) -> None:
    router, life = hotline(make_router)
    router.set_operator_state("s", "available")
    talking(router, life, clock)
    applied = life.apply(TransferredToQueue("c1", by="a", queue="second_line"))
    assert applied.again is not None and applied.again.operator_id == "s"
    assert router.status("c1").state == "reserved"
    # He answers: the conversation is his; its end puts him, not a, in wrap-up.
    life.apply(OperatorAnswered("c1"))
    assert router.operator_status("s").state == "on_call"
    life.apply(ConversationEnded("c1"))
    assert router.operator_status("s").state == "wrap_up"
    consistent(router)


def test_blind_to_a_named_operator_who_is_ready_and_to_one_who_is_not(
    make_router: RouterFactory, clock: FakeClock
) -> None:
    router, life = hotline(make_router)
    talking(router, life, clock)
    with pytest.raises(TransferRefused) as refused:
        life.apply(TransferredToOperator("c1", by="a", operator="t"))  # t is not ready
    assert refused.value.why == "operator_not_ready"
    assert router.status("c1").state == "connected" and router.operator_status("a").state == "on_call"
    assert router.transfers("c1") == []
    with pytest.raises(TransferRefused) as same:
        life.apply(TransferredToOperator("c1", by="a", operator="a"))
    assert same.value.why == "same_operator"
    with pytest.raises(UnknownOperator):
        life.apply(TransferredToOperator("c1", by="a", operator="nobody"))

    router.set_operator_state("t", "available")
    applied = life.apply(TransferredToOperator("c1", by="a", operator="t", note="по договорённости"))
    assert applied.again is not None and applied.again.operator_id == "t"
    assert router.status("c1").assignment.queue == "general"  # type: ignore[union-attr]  # its own queue
    assert router.operator_status("a").state == "wrap_up"
    assert router.transfers("c1")[0]["to_operator"] == "t"
    consistent(router)


def test_closed_or_unknown_queue_and_another_operators_call_are_refused_with_nothing_changed(
    make_router: RouterFactory, clock: FakeClock
) -> None:
    router, life = hotline(make_router)
    talking(router, life, clock)
    with pytest.raises(TransferRefused) as closed:
        life.apply(TransferredToQueue("c1", by="a", queue="closed_line"))
    assert closed.value.why == "closed"
    with pytest.raises(UnknownQueue):
        life.apply(TransferredToQueue("c1", by="a", queue="no_such_line"))
    with pytest.raises(TransferRefused) as theirs:
        life.apply(TransferredToQueue("c1", by="b", queue="second_line"))
    assert theirs.value.why == "not_yours"
    assert router.status("c1").state == "connected"
    assert router.operator_status("a").state == "on_call"
    assert router.transfers("c1") == []
    consistent(router)


def test_a_double_click_is_one_transfer_and_a_second_one_is_refused(
    make_router: RouterFactory, clock: FakeClock
) -> None:
    router, life = hotline(make_router)
    talking(router, life, clock)
    life.apply(TransferredToQueue("c1", by="a", queue="second_line", transfer_id="x1"))
    again = life.apply(TransferredToQueue("c1", by="a", queue="second_line", transfer_id="x1"))
    assert again.again is None and len(router.transfers("c1")) == 1  # the same click resent
    with pytest.raises(InvalidTransition):  # another click: the call is no longer connected
        life.apply(TransferredToQueue("c1", by="a", queue="second_line", transfer_id="x2"))
    with pytest.raises(RoutingError):
        life.apply(TransferredToQueue("never-was", by="a", queue="second_line"))
    assert len(router.transfers("c1")) == 1
    consistent(router)


def test_a_call_that_just_hung_up_cannot_be_transferred(make_router: RouterFactory, clock: FakeClock) -> None:
    router, life = hotline(make_router)
    talking(router, life, clock)
    life.apply(ConversationEnded("c1"))
    with pytest.raises(InvalidTransition):
        life.apply(TransferredToQueue("c1", by="a", queue="second_line"))
    with pytest.raises(InvalidTransition):
        life.apply(ConsultStarted("c1", by="a", operator="b"))
    assert router.operator_status("a").state == "wrap_up"
    consistent(router)


def test_telephony_failing_gives_the_call_back_to_the_first_operator_and_releases_the_next(
    make_router: RouterFactory, clock: FakeClock
) -> None:
    router, life = hotline(make_router)
    router.set_operator_state("s", "available")
    talking(router, life, clock)
    applied = life.apply(TransferredToQueue("c1", by="a", queue="second_line"))
    assert applied.again is not None and applied.transfer is not None  # s reserved at once
    failed = life.apply(TransferFailed("c1", applied.transfer.transfer_id, why="Redirect: No such channel"))
    assert failed.transfer is not None and failed.transfer.back_to == "operator"
    st = router.status("c1")
    assert (st.state, st.assignment.operator_id, st.assignment.queue) == ("connected", "a", "general")  # type: ignore[union-attr]
    assert router.operator_status("a").state == "on_call"
    assert router.operator_status("s").state == "available"  # nothing left reserved
    assert life.apply(TransferFailed("c1", applied.transfer.transfer_id)).transfer.back_to == "done"  # type: ignore[union-attr]
    # The conversation goes on and ends as any other: a to wrap-up.
    life.apply(ConversationEnded("c1"))
    assert router.operator_status("a").state == "wrap_up"
    consistent(router)


def test_telephony_failing_after_the_first_operator_moved_on_puts_the_call_at_the_head_of_its_old_line(
    make_router: RouterFactory, clock: FakeClock
) -> None:
    router, life = hotline(make_router)
    talking(router, life, clock)
    applied = life.apply(TransferredToQueue("c1", by="a", queue="second_line"))
    router.set_operator_state("a", "available")  # he ended his wrap-up at once ...
    router.enqueue(call("c2", clock.advance(1)))  # ... and took the next call
    assert router.status("c2").assignment.operator_id == "a"  # type: ignore[union-attr]
    router.enqueue(call("c3", clock.advance(1)))  # waits in general
    assert applied.transfer is not None
    failed = life.apply(TransferFailed("c1", applied.transfer.transfer_id))
    assert failed.transfer is not None and failed.transfer.back_to == "line"
    st = router.status("c1")
    assert (st.state, st.position) == ("waiting", 1)
    assert router.redis.hget(router.keys.call("c1"), "queue") == b"general"
    assert router.status("c3").position == 2
    consistent(router)


def test_warm_transfer_completed_the_call_is_the_next_operators_and_the_first_wraps_up(
    make_router: RouterFactory, clock: FakeClock
) -> None:
    router, life = hotline(make_router)
    router.set_operator_state("t", "available")
    clock.advance(5)
    router.set_operator_state("s", "available")  # t has waited longer
    talking(router, life, clock)
    started = life.apply(ConsultStarted("c1", by="a", queue="second_line", note="сложный случай"))
    assert started.transfer is not None
    nxt = started.transfer.operator
    assert nxt == "t"  # the longest idle of the second line
    assert started.transfer.endpoint == "PJSIP/t"
    assert router.operator_status("t").state == "reserved"
    st = router.status("c1")
    assert (st.state, st.assignment.operator_id) == ("connected", "a")  # type: ignore[union-attr]
    with pytest.raises(TransferRefused) as twice:
        life.apply(ConsultStarted("c1", by="a", operator="s"))
    assert twice.value.why == "consulting"
    with pytest.raises(TransferRefused):
        life.apply(TransferredToQueue("c1", by="a", queue="second_line"))  # not during a consultation
    clock.advance(20)

    done = life.apply(ConsultCompleted("c1", by="a", transfer_id=started.transfer.transfer_id))
    assert done.transfer is not None and done.transfer.operator == "t"
    st = router.status("c1")
    assert (st.state, st.assignment.operator_id) == ("connected", "t")  # type: ignore[union-attr]
    assert router.operator_status("t").state == "on_call"
    assert router.operator_status("a").state == "wrap_up"
    (record,) = router.transfers("c1")
    assert (record["mode"], record["by"], record["to_queue"], record["next"], record["note"]) == (
        "warm", "a", "second_line", "t", "сложный случай")
    life.apply(ConversationEnded("c1"))
    assert router.operator_status("t").state == "wrap_up"
    consistent(router)


def test_warm_transfer_cancelled_releases_the_next_operator(make_router: RouterFactory, clock: FakeClock) -> None:
    router, life = hotline(make_router)
    talking(router, life, clock, operator="a")
    router.set_operator_state("b", "available")
    started = life.apply(ConsultStarted("c1", by="a", operator="b"))
    assert started.transfer is not None and router.operator_status("b").state == "reserved"
    consistent(router)
    cancelled = life.apply(ConsultCancelled("c1", by="a", transfer_id=started.transfer.transfer_id))
    assert cancelled.transfer is not None
    assert router.operator_status("b").state == "available"
    st = router.status("c1")
    assert (st.state, st.assignment.operator_id) == ("connected", "a")  # type: ignore[union-attr]
    assert router.transfers("c1") == []
    with pytest.raises(TransferRefused) as nothing:
        life.apply(ConsultCompleted("c1", by="a", transfer_id=started.transfer.transfer_id))
    assert nothing.value.why == "no_consultation"
    consistent(router)


def test_a_consultation_with_nobody_free_or_a_not_ready_operator_is_refused(
    make_router: RouterFactory, clock: FakeClock
) -> None:
    router, life = hotline(make_router)
    talking(router, life, clock)
    with pytest.raises(TransferRefused) as nobody:
        life.apply(ConsultStarted("c1", by="a", queue="second_line"))
    assert nobody.value.why == "no_operator"
    with pytest.raises(TransferRefused) as not_ready:
        life.apply(ConsultStarted("c1", by="a", operator="s"))
    assert not_ready.value.why == "operator_not_ready"
    with pytest.raises(TransferRefused) as closed:
        life.apply(ConsultStarted("c1", by="a", queue="closed_line"))
    assert closed.value.why == "closed"
    assert router.status("c1").state == "connected"
    consistent(router)


def test_the_caller_hanging_up_during_a_consultation_frees_the_next_operator(
    make_router: RouterFactory, clock: FakeClock
) -> None:
    router, life = hotline(make_router)
    talking(router, life, clock)
    router.set_operator_state("b", "available")
    life.apply(ConsultStarted("c1", by="a", operator="b"))
    life.apply(ConversationEnded("c1"))
    assert router.operator_status("b").state == "available"
    assert router.operator_status("a").state == "wrap_up"
    consistent(router)


def test_each_leg_is_in_the_appeals_log(make_router: RouterFactory, clock: FakeClock) -> None:
    router, life = hotline(make_router)
    number = router.appeals.allocate(clock.now)
    wc = call("c1", clock.now)
    router.enqueue(dataclasses.replace(wc, appeal=number, context={**wc.context, "appeal": number}))
    router.set_operator_state("a", "available")
    life.apply(OperatorAnswered("c1"))
    router.set_operator_state("b", "available")
    started = life.apply(ConsultStarted("c1", by="a", operator="b", note="n1"))
    assert started.transfer is not None
    life.apply(ConsultCompleted("c1", by="a", transfer_id=started.transfer.transfer_id))
    life.apply(TransferredToQueue("c1", by="b", queue="second_line", note="n2"))
    legs: list[dict[str, Any]] = [e for e in router.appeals.history(number) if e.get("event") == "transfer"]
    assert [(e["operator"], e["to"], e["mode"], e["status"]) for e in legs] == [
        ("a", "b", "warm", "accepted"), ("b", "second_line", "blind", "accepted")]
    assert router.appeals.get(number).status == "accepted"  # type: ignore[union-attr]
    assert [r["by"] for r in router.transfers("c1")] == ["a", "b"]
    assert json.loads(router.redis.hget(router.keys.call("c1"), "ctx"))["appeal"] == number


def test_the_legs_are_kept_before_routing_says_connected(make_router: RouterFactory, clock: FakeClock,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    """Seen on the real tier: the operator was ``on_call`` and the call's legs not yet in
    Redis, so a console's transfer in that moment found no live call."""
    router, life = hotline(make_router)
    wc = call("c1", clock.now)
    router.enqueue(wc)
    router.set_operator_state("a", "available")
    legs = Legs("c1", "asterisk", "a", caller="PJSIP/trunk-1", operator="PJSIP/a-2", since=clock.now)
    seen: list[Legs | None] = []
    connected = router.connected

    def spied(call_id: str) -> Any:
        seen.append(life.legs.get(call_id))
        return connected(call_id)

    monkeypatch.setattr(router, "connected", spied)
    life.apply(OperatorAnswered("c1", legs))
    assert seen == [legs]
    assert router.status("c1").state == "connected"


def test_an_answer_for_a_call_that_has_ended_leaves_no_legs(make_router: RouterFactory, clock: FakeClock) -> None:
    router, life = hotline(make_router)
    router.enqueue(call("c1", clock.now))
    router.set_operator_state("a", "available")
    life.apply(CallerLeft("c1", "handover"))  # the caller hung up as the phone was answered
    with pytest.raises(RoutingError):
        life.apply(OperatorAnswered("c1", Legs("c1", "asterisk", "a", caller="PJSIP/trunk-1",
                                               operator="PJSIP/a-2", since=clock.now)))
    assert life.legs.get("c1") is None
    assert router.operator_status("a").state == "available"
