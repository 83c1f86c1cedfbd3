"""The call log: one record per finished call, and the menu funnel's counters.

When the voice menu is done with a call, :meth:`CallLog.record` keeps what the funnel
needs and nothing personal: menu, version, outcome, topic, and the path (nodes, exits,
keys pressed at menus, failure reasons, times).  No caller number, ИНН, СНИЛС or name.

Keys (the hotline's hash tag; one script call per record)::

    {ivr}:calls                          STREAM  the records, trimmed to about ``keep``
    {ivr}:funnel:<menu>:<YYYY-MM-DD>     HASH    "<version>|<node>|<counter>" -> count, 100 days
    {ivr}:funnel:counted:<call>          STRING  what a call put through counted, 6 hours

A call the menu put through to an operator is recorded then; if it comes back in line
(its operator missed it, or transferred it to a queue) it is recorded again when it ends
for good.  Its second record adds only the difference to the counters (the call is one
call, with one outcome: the last), so the funnel counts calls, not hand-overs.

Counters per node: ``reached`` (calls that entered it), ``exit:<way>`` (visits that
left it that way; menu keys as ``exit:key:<k>``), ``timeout`` / ``no_match`` /
``invalid`` / ``corrected`` (calls that had that failure there), and per call
``|calls`` and ``|outcome:<outcome>`` under the node name ``""``.
"""

from __future__ import annotations

import datetime as dt
import json
import time
from collections.abc import Callable, Iterable
from typing import Any
from zoneinfo import ZoneInfo

from ivr.flow.context import CallContext

DAY_ZONE = ZoneInfo("Europe/Moscow")
KEEP_DAYS = 100
NO_MATCH = frozenset({"no_match", "speech", "low_confidence", "not_a_name"})
KEEP_DETAIL = frozenset({"key", "speech", "fallback", "done", "open", "closed", "default"})


def failure_kind(reason: str) -> str:
    """``timeout``, ``no_match`` (a key or word that is not an option), ``corrected``
    (the caller rejected the readback) or ``invalid`` (failed validation: checksum, length...)."""
    if reason == "timeout":
        return "timeout"
    if reason in NO_MATCH or reason.startswith("key:"):
        return "no_match"
    if reason == "corrected":
        return "corrected"
    return "invalid"


def exit_way(exit: str | None, detail: str) -> str:
    """How a visit left its node: ``key:1``, ``fallback:timeout``, ``done:recorded``, ``hangup``.

    The detail is kept only for exits where it names a way (a key, a reason), never
    when it could carry digits the caller typed.
    """
    if exit is None:
        return "none"
    if exit in KEEP_DETAIL and detail and sum(ch.isdigit() for ch in detail) < 3:
        return f"{exit}:{detail}"
    return exit


def day_of(at: float) -> str:
    return dt.datetime.fromtimestamp(at, DAY_ZONE).date().isoformat()


def call_record(ctx: CallContext, menu: str, at: float) -> dict[str, Any]:
    """What is kept of a call: no personal data."""
    return {
        "call": ctx.call_id,
        "menu": menu,
        "version": ctx.menu_version,
        "started": ctx.started,
        "ended": at,
        "outcome": ctx.outcome,
        "channel": ctx.channel,
        "language": ctx.language,
        "topic": ctx.topic,
        "queue": ctx.queue,
        "appeal": ctx.appeal,
        "path": [
            {"node": s.node, "entered": s.entered, "left": s.left, "exit": s.exit,
             "detail": s.detail, "attempts": s.attempts, "failures": list(s.failures)}
            for s in ctx.path
        ],
    }


def funnel_counts(record: dict[str, Any]) -> dict[str, int]:
    """The funnel counters one call adds (field -> increment)."""
    v = record["version"]
    out: dict[str, int] = {}

    def add(field: str) -> None:
        out[field] = out.get(field, 0) + 1

    add(f"{v}||calls")
    add(f"{v}||outcome:{record['outcome'] or 'none'}")
    reached: set[str] = set()
    failed: set[tuple[str, str]] = set()
    for step in record["path"]:
        node = step["node"]
        reached.add(node)
        add(f"{v}|{node}|exit:{exit_way(step['exit'], step['detail'])}")
        for reason in step["failures"]:
            failed.add((node, failure_kind(reason)))
    for node in reached:
        add(f"{v}|{node}|reached")
    for node, kind in failed:
        add(f"{v}|{node}|{kind}")
    return out


COUNTED_SECONDS = 6 * 3600  # how long a connected call may come back in line and be recorded again
# KEYS: the funnel, the call's counted (what its earlier record added), the stream.
# ARGV: keep, the record, the funnel's ttl, how long to keep counted (0: this is the end),
# this record's counts (JSON).  The counters get the difference from the earlier record.
_RECORD = """
local counts = cjson.decode(ARGV[5])
local before = redis.call('GET', KEYS[2])
local earlier = before and cjson.decode(before) or {}
for field, n in pairs(counts) do
  local d = n - (earlier[field] or 0)
  if d ~= 0 then redis.call('HINCRBY', KEYS[1], field, d) end
end
for field, n in pairs(earlier) do  -- what the call no longer is ("connected"): taken back
  if counts[field] == nil and redis.call('HINCRBY', KEYS[1], field, -n) <= 0 then
    redis.call('HDEL', KEYS[1], field)
  end
end
redis.call('EXPIRE', KEYS[1], ARGV[3])
if tonumber(ARGV[4]) > 0 then redis.call('SET', KEYS[2], ARGV[5], 'EX', ARGV[4])
elseif before then redis.call('DEL', KEYS[2]) end
redis.call('XADD', KEYS[3], 'MAXLEN', '~', ARGV[1], '*', 'call', ARGV[2])
"""


class CallLog:
    def __init__(
        self,
        *,
        redis: Any,
        prefix: str = "ivr",
        menu_of: Callable[[CallContext], str],
        keep: int = 100_000,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.redis = redis
        self.tag = "{" + prefix + "}"
        self.menu_of = menu_of
        self.keep = keep
        self.clock = clock
        self._record = redis.register_script(_RECORD)

    @property
    def key_calls(self) -> str:
        return f"{self.tag}:calls"

    def key_funnel(self, menu: str, day: str) -> str:
        return f"{self.tag}:funnel:{menu}:{day}"

    def record(self, ctx: CallContext, at: float) -> None:
        """The ``call_log`` hook of :class:`~ivr.call.routed.RoutedServices`."""
        record = call_record(ctx, self.menu_of(ctx), at)
        key = self.key_funnel(record["menu"], day_of(ctx.started or at))
        counts = funnel_counts(record)
        self._record(keys=[key, f"{self.tag}:funnel:counted:{ctx.call_id}", self.key_calls],
                     args=[self.keep, json.dumps(record, ensure_ascii=False), KEEP_DAYS * 86400,
                           COUNTED_SECONDS if record["outcome"] == "connected" else 0,
                           json.dumps(counts)])

    def recent(self, count: int = 100) -> list[dict[str, Any]]:
        entries = self.redis.xrevrange(self.key_calls, count=count)
        return [json.loads(_text(fields.get(b"call") or fields.get("call"))) for _, fields in entries]

    def counters(self, menu: str, days: Iterable[str]) -> dict[str, int]:
        """The funnel counters of ``menu`` summed over ``days``."""
        day_list = list(days)
        pipe = self.redis.pipeline(transaction=False)
        for day in day_list:
            pipe.hgetall(self.key_funnel(menu, day))
        total: dict[str, int] = {}
        for raw in pipe.execute():
            for k, n in raw.items():
                field = _text(k)
                total[field] = total.get(field, 0) + int(n)
        return total


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
