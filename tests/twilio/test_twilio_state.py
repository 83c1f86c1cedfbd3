"""The call-state store on a real Redis: compare-and-set, lock, end, callbacks."""

from __future__ import annotations

import threading
import time

from ivr.flow.context import CallContext
from ivr.flow.engine import CallState
from ivr.twilio import CallbackRecord, CallStore, StoredCall

SID = "CA" + "1" * 32


def stored(step: int, node: str = "language") -> StoredCall:
    ctx = CallContext(call_id=SID, caller="+79161234567", dialled="+78005553535", started=1.0,
                      skills=("signin",)).enter(node, 1.0)
    return StoredCall(step=step, menu="hotline", state=CallState(context=ctx, node=node),
                      twiml=f"<Response>{step}</Response>")


def test_round_trip_keeps_the_state_exactly(store: CallStore) -> None:
    assert store.advance(SID, expected_step=0, new=stored(1))
    assert store.load(SID) == stored(1)


def test_compare_and_set_refuses_a_stale_step(store: CallStore) -> None:
    assert store.advance(SID, expected_step=0, new=stored(1))
    assert not store.advance(SID, expected_step=0, new=stored(1, "other"))  # created twice
    assert store.advance(SID, expected_step=1, new=stored(2, "ask_name"))
    assert not store.advance(SID, expected_step=1, new=stored(2, "other"))  # a concurrent retry
    loaded = store.load(SID)
    assert loaded is not None and (loaded.step, loaded.state.node) == (2, "ask_name")


def test_end_removes_the_state_and_leaves_a_tombstone(store: CallStore, redis) -> None:
    store.advance(SID, expected_step=0, new=stored(1))
    store.end(SID)
    assert store.load(SID) is None and store.has_ended(SID)
    assert 0 < redis.ttl(store.ended_key(SID)) <= store.ttl


def test_lock_serialises_requests_for_one_call(store: CallStore) -> None:
    order: list[str] = []

    def second() -> None:
        with store.lock(SID) as held:
            order.append(f"second:{held}")

    with store.lock(SID) as held:
        assert held
        thread = threading.Thread(target=second)
        thread.start()
        time.sleep(0.1)
        order.append("first done")
    thread.join()
    assert order == ["first done", "second:True"]


def test_lock_gives_up_after_its_wait(store: CallStore) -> None:
    with store.lock(SID), store.lock(SID) as second:
        assert second is False


def test_callback_record_round_trip(store: CallStore) -> None:
    record = CallbackRecord("cb-1", "+79161234567", "client:op101", "en", True, "2603100001")
    store.save_callback(record)
    assert store.load_callback("cb-1") == record
    assert store.load_callback("cb-2") is None
