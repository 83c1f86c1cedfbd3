"""Abandoned calls, the event stream, queue snapshots and the ``ivr queues`` report."""

from __future__ import annotations

import json

import pytest

from ivr.identity import make_appeal_number
from routing.appeals import AppealBook, identity_key, is_valid_number
from routing.errors import InvalidAppeal
from routing.report import queue_report
from tests.routing.conftest import FakeClock, RouterFactory, call, op, operators


def test_abandoned_call_is_removed_at_once_and_counted(
    make_router: RouterFactory, clock: FakeClock
) -> None:
    router = make_router(operators(a=op({"general": 5})))
    router.enqueue(call("c1", clock.now))
    router.enqueue(call("c2", clock.advance(1)))
    router.abandon("c1", node="queue_music")
    router.abandon("c1", node="queue_music")  # a retry counts once
    assert router.status("c1").state == "abandoned"
    assert router.status("c2").position == 1
    snap = next(s for s in router.snapshot() if s.queue == "general")
    assert (snap.waiting, snap.abandoned) == (1, 1)
    [(_, event)] = [e for e in router.events() if e[1]["type"] == "abandoned"]
    assert event["node"] == "queue_music" and event["call"] == "c1"


def test_abandon_while_reserved_frees_the_operator_first_in_line(
    make_router: RouterFactory, clock: FakeClock
) -> None:
    router = make_router(operators(a=op({"general": 5}), b=op({"general": 5})))
    router.set_operator_state("a", "available")
    clock.advance(10)
    router.set_operator_state("b", "available")
    p = router.enqueue(call("c1", clock.now))
    assert p.assignment is not None and p.assignment.operator_id == "a"
    router.abandon("c1")
    assert router.operator_status("a").state == "available"
    p2 = router.enqueue(call("c2", clock.advance(1)))
    assert p2.assignment is not None and p2.assignment.operator_id == "a"  # still the longest idle


def test_event_stream(make_router: RouterFactory, clock: FakeClock) -> None:
    router = make_router(operators(a=op({"general": 5})))
    router.set_operator_state("a", "available")
    router.enqueue(call("c1", clock.now))
    clock.advance(5)
    router.connected("c1")
    clock.advance(60)
    router.ended("c1")
    router.enqueue(call("c2", clock.now))
    router.request_callback("c2", "+79161234567")
    events = router.events()
    assert [e["type"] for _, e in events] == [
        "operator_state",
        "enqueued",
        "assigned",
        "answered",
        "ended",
        "operator_state",
        "enqueued",
        "callback_requested",
    ]
    answered = events[3][1]
    assert (answered["call"], answered["operator"], answered["wait"]) == ("c1", "a", "5")
    assert events[-1][1]["number"] == "+7********67"  # no personal data in the stream
    last = events[-1][0]
    assert router.events(last) == []
    assert [e["type"] for _, e in router.events(events[4][0], count=2)] == [
        "operator_state",
        "enqueued",
    ]


def test_an_operator_reserved_at_once_is_one_event(
    make_router: RouterFactory, clock: FakeClock
) -> None:
    """Made available with a call waiting, the operator is reserved in the same step: the
    stream says so once ("assigned", with the state he left), not "available" as well."""
    router = make_router(operators(a=op({"general": 5})))
    router.enqueue(call("c1", clock.now))
    clock.advance(3)
    router.set_operator_state("a", "available")
    events = [e for _, e in router.events()]
    assert [e["type"] for e in events] == ["enqueued", "assigned"]
    assert (events[1]["operator"], events[1]["from"]) == ("a", "offline")
    router.connected("c1")
    router.ended("c1")  # wrap-up
    router.set_operator_state("a", "available")  # nothing waiting: available, one event
    tail = [e for _, e in router.events()][-3:]
    assert [(e["type"], e.get("state"), e.get("from")) for e in tail] == [
        ("ended", None, None),
        ("operator_state", "wrap_up", "on_call"),
        ("operator_state", "available", "wrap_up"),
    ]
    # A call arriving for an available operator: "assigned" without "from" (he was seen
    # available).
    router.enqueue(call("c2", clock.advance(1)))
    last = [e for _, e in router.events()][-1]
    assert last["type"] == "assigned" and "from" not in last


def test_snapshot_figures_and_report(make_router: RouterFactory, clock: FakeClock) -> None:
    router = make_router(
        operators(a=op({"general": 5}), b=op({"general": 5}), c=op({"general": 5}))
    )
    router.set_operator_state("c", "break")
    # Answered within 20 s: c1 (5 s), c2 (15 s); after: c3 (30 s); abandoned after 20 s: c4;
    # abandoned within 20 s (not held against the service level): c5.
    for cid, wait in (("c1", 5), ("c2", 15), ("c3", 30)):
        router.enqueue(call(cid, clock.now))
        clock.advance(wait)
        router.set_operator_state("a", "available")
        router.connected(cid)
        router.ended(cid)
        router.set_operator_state("a", "available")
        router.set_operator_state("a", "offline")
    router.enqueue(call("c4", clock.now))
    clock.advance(25)
    router.abandon("c4")
    router.enqueue(call("c5", clock.now))
    clock.advance(3)
    router.abandon("c5")
    router.enqueue(call("w1", clock.now))
    clock.advance(40)
    router.enqueue(call("w2", clock.now))
    router.set_operator_state("b", "available")  # takes w1
    router.connected("w1")

    snap = next(s for s in router.snapshot() if s.queue == "general")
    assert snap.answered == 4 and snap.answered_within == 2
    assert snap.service_level == pytest.approx(2 / 5)
    assert snap.abandoned == 2
    assert snap.waiting == 1 and snap.longest_wait == 0
    assert snap.operators["on_call"] == 1 and snap.operators["break"] == 1
    assert snap.operators["offline"] == 1
    assert snap.expected_wait > 0

    text = queue_report(router.snapshot(), as_json=False)
    lines = text.splitlines()
    assert lines[0].split()[:6] == ["queue", "open", "waiting", "longest", "expected", "SL"]
    general = next(line for line in lines if line.startswith("general"))
    assert "40%!" in general
    payload = json.loads(queue_report(router.snapshot(), as_json=True))
    g = next(q for q in payload["queues"] if q["queue"] == "general")
    assert g["service_level"] == 0.4 and g["abandoned"] == 2 and g["operators"]["on_call"] == 1
    assert g["name"] == "Общие вопросы"


def test_expected_wait_counts_by_skills(make_router: RouterFactory, clock: FakeClock) -> None:
    router = make_router(
        operators(a=op({"general": 5}), b=op({"general": 5}), p=op({"payments": 5}))
    )
    for o in ("a", "b", "p"):
        router.set_operator_state(o, "available")
        router.set_operator_state(o, "break")
        router.set_operator_state(o, "available")
    for i in range(6):  # occupy everyone, then queue more
        router.enqueue(call(f"g{i}", clock.now))
    for i in range(3):
        router.enqueue(call(f"p{i}", clock.now, queue="payments"))
    g5, p2 = router.status("g5"), router.status("p2")
    assert (g5.position, p2.position) == (4, 2)
    # Two general operators share the general line, one serves payments.
    assert g5.expected_wait == pytest.approx(4 * 180 / 2)
    assert p2.expected_wait == pytest.approx(2 * 180 / 1)


def test_appeal_numbers_and_statuses(redis: object, prefix: str, clock: FakeClock) -> None:
    book = AppealBook(redis=redis, prefix=prefix, clock=clock)
    first, second = book.allocate(), book.allocate()
    assert first != second and len(first) == len(second) == 10
    assert book.get(first) is not None and book.get(second) is not None  # in the book once minted
    assert is_valid_number(first) and not is_valid_number(
        first[:-1] + str((int(first[-1]) + 1) % 10)
    )
    book.open(first, ["inn:x"], "payments")
    with pytest.raises(InvalidAppeal):
        book.open(first, ["inn:x"], "payments")
    clock.advance(60)
    appeal = book.set_status(first, "awaiting_documents", operator="op101", note="нужна справка")
    assert appeal.status_name == "Ожидание документов" and appeal.updated_at == clock.now
    assert not appeal.resolved
    assert book.set_status(first, "approved", operator="op101").resolved
    assert [h["status"] for h in book.history(first)] == [
        "accepted",
        "awaiting_documents",
        "approved",
    ]
    with pytest.raises(InvalidAppeal):
        book.set_status(first, "lost", operator="op101")
    assert book.get("0000000000") is None


def test_a_minted_number_is_drawn_again_when_taken(redis: object, prefix: str, clock: FakeClock) -> None:
    draws = iter([41, 41, 41, 99])
    book = AppealBook(redis=redis, prefix=prefix, clock=clock, draw=lambda n: next(draws))
    assert book.allocate() == make_appeal_number(42)
    assert book.allocate() == make_appeal_number(100)  # 42 twice taken, then a free one
    stuck = AppealBook(redis=redis, prefix=prefix, clock=clock, draw=lambda n: 41)
    with pytest.raises(InvalidAppeal):
        stuck.allocate()


def test_an_appeals_status_is_for_its_holder_only(redis: object, prefix: str, clock: FakeClock) -> None:
    book = AppealBook(redis=redis, prefix=prefix, clock=clock)
    queued, self_service, silent = book.allocate(), book.allocate(), book.allocate()
    book.open(queued, ["snils:a", "tel:t"], "payments")
    book.settle(self_service, ["inn:b", "tel:t"], "")
    assert book.status_for(queued, ["snils:a"]) == book.get(queued)
    assert book.status_for(self_service, ["snils:x", "inn:b"]) == book.get(self_service)
    # The caller's number is not a document; a minted appeal with no identity opens to nobody.
    for number, keys in ((queued, ["tel:t"]), (queued, ["inn:b"]), (self_service, []), (silent, ["inn:b"]),
                         ("0000000000", ["snils:a"]), (make_appeal_number(77), ["snils:a"])):
        assert book.status_for(number, keys) is None, (number, keys)
    # Settling never overwrites an opened appeal and never indexes for the repeat boost.
    book.settle(queued, ["inn:other"], "other")
    assert book.get(queued).identity_keys == ("snils:a", "tel:t")  # type: ignore[union-attr]
    assert redis.zrange(book.keys.appeals_of("inn:b"), 0, -1) == []  # type: ignore[attr-defined]
    assert redis.zrange(book.keys.appeals_of("snils:a"), 0, -1) in ([queued], [queued.encode()])  # type: ignore[attr-defined]


def test_the_identity_key_is_made_once_per_redis_unless_given(redis: object, prefix: str) -> None:
    made, said = identity_key(redis, prefix=prefix)
    again, _ = identity_key(redis, prefix=prefix)
    assert made.key == again.key and "IVR_IDENTITY_KEY is not set" in said  # every engine, every start
    given, said = identity_key(redis, prefix=prefix, given="x" * 32)
    assert given.key == b"x" * 32 and "IVR_IDENTITY_KEY" in said
    with pytest.raises(ValueError, match="IVR_IDENTITY_KEY"):
        identity_key(redis, prefix=prefix, given="short")
