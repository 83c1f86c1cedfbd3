"""The supervisors' live dashboard: queues and operators now, and the last hour by minute."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from ivr.aftermenu.supervision import Supervision
from routing.engine import Router
from routing.states import OPERATOR_STATES

# Per minute of the last hour.  "answered" counts calls, as the day's totals do (routing's
# ``answered``); an answered callback is "callback_answered" (routing's ``callbacks_answered``).
HOUR_EVENTS = ("enqueued", "answered", "abandoned", "callback_requested", "callback_answered")
HOUR_SCAN = 50_000  # events read at most for the hour chart


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


class Dashboard:
    def __init__(self, *, router: Router, clock: Callable[[], float], supervision: Supervision | None = None) -> None:
        self.router = router
        self.clock = clock
        self.supervision = supervision

    def operators(self) -> list[dict[str, Any]]:
        ids = list(self.router.operators)
        pipe = self.router.redis.pipeline(transaction=False)
        for op_id in ids:
            pipe.hmget(self.router.keys.operator(op_id), "state", "since", "call", "why", "misses")
        alert = self.router.settings.missed_calls_alert
        rows: list[dict[str, Any]] = []
        for op_id, (state, since, call, why, misses) in zip(ids, pipe.execute(), strict=True):
            text = _text(state) if state else "offline"
            missed = int(_text(misses)) if misses else 0
            rows.append({"id": op_id, "name": self.router.operators[op_id].name,
                         "state": text, "since": float(_text(since)) if since else None,
                         "call": _text(call) if call else None, "call_queue": None,
                         "why": _text(why) if why and text == "offline" else None,
                         # missed calls in a row; at routing.missed_calls_alert the row is flagged
                         "missed": missed, "attention": missed >= alert})
        busy = [row for row in rows if row["call"]]
        if busy:  # what the supervisor reads instead of a call id: the queue the call came from
            pipe = self.router.redis.pipeline(transaction=False)
            for row in busy:
                pipe.hget(self.router.keys.call(str(row["call"])), "queue")
            for row, queue in zip(busy, pipe.execute(), strict=True):
                row["call_queue"] = _text(queue) if queue else None
        if self.supervision is not None:  # who may be listened to, and who is
            live = self.supervision.live_calls([str(row["call"]) for row in busy])
            watches = self.supervision.watches()
            for row in rows:
                row["live"] = row["call"] in live
                row["supervisors"] = [{"by": w.supervisor, "mode": w.mode, "since": w.since}
                                      for w in watches if w.call_id == row["call"]]
        return rows

    def snapshot(self) -> dict[str, Any]:
        queues = [q.as_dict() for q in self.router.snapshot()]
        operators = self.operators()
        by_state = {s: 0 for s in OPERATOR_STATES}
        for op in operators:
            by_state[op["state"]] = by_state.get(op["state"], 0) + 1
        return {
            "now": self.clock(),
            "queues": queues,
            "operators": operators,
            "totals": {
                "waiting": sum(q["waiting"] for q in queues),
                "callbacks_pending": sum(q["callbacks_pending"] for q in queues),
                "abandoned": sum(q["abandoned"] for q in queues),
                "answered": sum(q["answered"] for q in queues),
                "operators": by_state,
            },
        }

    def last_hour(self, now_ms: int | None = None) -> dict[str, Any]:
        """Per minute of the last hour: calls offered, answered, abandoned, callbacks asked.

        Read from the routing event stream by its ids (the Redis server's clock), newest
        first, so the cost is the hour's events, not the stream's length.
        """
        end = int(time.time() * 1000) if now_ms is None else now_ms
        start = end - 3_600_000
        minutes = [{k: 0 for k in HOUR_EVENTS} for _ in range(60)]
        cursor, seen = "+", 0
        while seen < HOUR_SCAN:
            batch = self.router.redis.xrevrange(self.router.keys.events, max=cursor, min=str(start), count=1000)
            if not batch:
                break
            for eid, fields in batch:
                seen += 1
                kind = _text(fields.get(b"type", fields.get("type", b"")))
                if kind == "answered" and _text(fields.get(b"kind", fields.get("kind", b""))) == "callback":
                    kind = "callback_answered"
                if kind in HOUR_EVENTS:
                    ms = int(_text(eid).split("-")[0])
                    index = min(59, max(0, (ms - start) // 60_000))
                    minutes[index][kind] += 1
            last = _text(batch[-1][0])
            ms, seq = (int(x) for x in last.split("-"))
            cursor = f"{ms}-{seq - 1}" if seq > 0 else f"{ms - 1}-18446744073709551615"
            if len(batch) < 1000:
                break
        return {"start_ms": start, "end_ms": end, "minutes": minutes}
