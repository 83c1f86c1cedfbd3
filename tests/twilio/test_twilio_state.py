"""The call-state store on a real Redis: compare-and-set, lock, end, callbacks."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from ivr.flow.context import CallContext
from ivr.flow.engine import CallState
from ivr.twilio import CallbackRecord, CallStore, StoredCall
from routing.redis_conn import connect
from tests.redis_servers import RedisClusterNodes

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


def test_a_hold_serialises_requests_for_one_call_and_the_second_reads_what_the_first_stored(
        store: CallStore) -> None:
    order: list[str] = []

    def second() -> None:
        with store.held(SID) as (held, state):
            order.append(f"second:{held}:{state.step if state else None}")

    store.advance(SID, expected_step=0, new=stored(1))
    with store.held(SID) as (held, state):
        assert held and state is not None and state.step == 1
        thread = threading.Thread(target=second)
        thread.start()
        time.sleep(0.1)
        assert store.advance(SID, expected_step=1, new=stored(2, "ask_name"))
        order.append("first done")
    thread.join()
    assert order == ["first done", "second:True:2"]


def test_a_hold_gives_up_after_its_wait(store: CallStore) -> None:
    with store.held(SID), store.held(SID) as (second, state):
        assert second is False and state is None


def test_a_hold_on_a_call_not_stored_yet(store: CallStore) -> None:
    with store.held(SID) as (held, state):
        assert held and state is None
    with store.held(SID) as (held, _):
        assert held  # given back


def test_callback_record_round_trip(store: CallStore) -> None:
    record = CallbackRecord("cb-1", "+79161234567", "client:op101", "en", True, "2603100001")
    store.save_callback(record)
    assert store.load_callback("cb-1") == record
    assert store.load_callback("cb-2") is None


@pytest.mark.cluster
def test_a_hold_and_its_read_in_one_round_trip_on_a_redis_cluster(tmp_path: Path) -> None:
    """The hold and the call's state share a hash tag: the one pipeline reaches one master."""
    cluster = RedisClusterNodes().start()
    try:
        store = CallStore(connect(cluster.url, embedded_dir=str(tmp_path)), prefix="cl", lock_wait=0.3)
        store.advance(SID, expected_step=0, new=stored(1))
        with store.held(SID) as (held, state):
            assert held and state is not None and state.step == 1
            with store.held(SID) as (second, _):
                assert second is False
        with store.held(SID) as (held, _):
            assert held
    finally:
        cluster.close()
