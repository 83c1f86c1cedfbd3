"""The call log counts calls, not hand-overs: a call recorded when it was put through and
again when it ended for good (its operator missed it, or transferred it) is one call."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from ivr.call.calllog import CallLog
from ivr.flow.context import CallContext, Step
from tests.embedded import embedded_redis

T0 = 1_795_500_000.0  # a Monday in Moscow


def put_through(call_id: str) -> CallContext:
    return CallContext(call_id, "+79990000001", "88005553535", T0, outcome="connected", menu_version=1,
                       path=(Step("welcome", T0, T0 + 1, "done"), Step("queue", T0 + 1, T0 + 5, "connected", "op101")))


def back_in_line_then(ctx: CallContext, outcome: str, exit: str) -> CallContext:
    return dataclasses.replace(ctx, outcome=outcome, path=(*ctx.path, Step("queue", T0 + 20, T0 + 60, exit)))


def test_a_call_put_through_then_abandoned_is_one_abandoned_call(tmp_path: Path) -> None:
    log = CallLog(redis=embedded_redis(str(tmp_path / "r.db")), menu_of=lambda ctx: "hotline")
    first = put_through("c1")
    log.record(first, T0 + 5)
    assert log.counters("hotline", ["2026-11-24"])["1||outcome:connected"] == 1
    log.record(back_in_line_then(first, "abandoned", "hangup"), T0 + 60)
    log.record(put_through("c2"), T0 + 5)  # another call, put through and talked to
    counters = log.counters("hotline", ["2026-11-24"])
    assert counters["1||calls"] == 2
    assert (counters["1||outcome:connected"], counters["1||outcome:abandoned"]) == (1, 1)
    assert counters["1|queue|reached"] == 2  # each call reached the queue (c1 twice: once counted)
    assert counters["1|queue|exit:connected"] == 2 and counters["1|queue|exit:hangup"] == 1  # visits
    assert [r["outcome"] for r in log.recent()] == ["connected", "abandoned", "connected"]


def test_a_call_transferred_and_put_through_again_counts_once(tmp_path: Path) -> None:
    log = CallLog(redis=embedded_redis(str(tmp_path / "r.db")), menu_of=lambda ctx: "hotline")
    first = put_through("c1")
    log.record(first, T0 + 5)
    log.record(back_in_line_then(first, "connected", "connected"), T0 + 60)
    counters = log.counters("hotline", ["2026-11-24"])
    assert (counters["1||calls"], counters["1||outcome:connected"]) == (1, 1)
    assert not {k for k in counters if "abandoned" in k}
