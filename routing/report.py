"""``ivr queues``: each queue's figures as a table or as JSON (the HTTP app serves the JSON)."""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from routing.model import QueueSnapshot

_STATES = (
    ("available", "avail"),
    ("reserved", "resv"),
    ("on_call", "call"),
    ("wrap_up", "wrap"),
    ("break", "brk"),
    ("offline", "off"),
)


NOBODY_ON_DUTY = "nobody on duty"  # the expected wait of a queue no operator on duty can serve


def _duration(seconds: float) -> str:
    s = round(seconds)
    return f"{s // 60}:{s % 60:02d}"


def queues_json(snapshots: Iterable[QueueSnapshot]) -> dict[str, Any]:
    """The payload of ``GET /api/queues``."""
    return {"queues": [s.as_dict() for s in snapshots]}


def queue_report(snapshots: Iterable[QueueSnapshot], *, as_json: bool) -> str:
    snaps = list(snapshots)
    if as_json:
        return json.dumps(queues_json(snaps), ensure_ascii=False, indent=2)
    header = ["queue", "open", "waiting", "longest", "expected", "SL", "abandoned", "callbacks"]
    header += [short for _, short in _STATES]
    rows = [header]
    for s in snaps:
        if s.service_level is None:
            sl = "-"
        else:
            mark = "" if s.service_level >= s.service_level_target else "!"
            sl = f"{s.service_level:.0%}{mark}"
        row = [
            s.queue,
            "yes" if s.open else "no",
            str(s.waiting),
            _duration(s.longest_wait),
            NOBODY_ON_DUTY if s.expected_wait is None else _duration(s.expected_wait),
            sl,
            str(s.abandoned),
            str(s.callbacks_pending),
        ]
        row += [str(s.operators.get(state, 0)) for state, _ in _STATES]
        rows.append(row)
    widths = [max(len(r[i]) for r in rows) for i in range(len(header))]
    lines = [
        "  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths)))
        for r in rows
    ]
    footer = "SL: answered within the queue's target seconds / (answered + abandoned after them); '!' below target"
    return "\n".join(lines + ["", footer])
