"""The menu funnel: where callers go and where they get lost, from real call records.

For every node of a menu: calls that reached it, how visits left it (each key, each
fallback reason, done, hang-up), and calls that timed out, pressed a key that is not an
option, failed validation or rejected the readback there.  The counters come from
:class:`ivr.call.calllog.CallLog` (per menu, version and day); nodes are listed in the
menu's own order, then nodes only older versions had.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from typing import Any

from ivr.call.calllog import DAY_ZONE, CallLog
from ivr.menu.live import LiveMenus

FAILURES = ("timeout", "no_match", "invalid", "corrected")
MAX_DAYS = 92


def days_back(now: float, days: int) -> list[str]:
    today = dt.datetime.fromtimestamp(now, DAY_ZONE).date()
    return [(today - dt.timedelta(days=i)).isoformat() for i in range(days)]


def funnel_table(counters: dict[str, int], *, versions: set[int] | None, order: list[str],
                 kinds: Mapping[str, str]) -> dict[str, Any]:
    nodes: dict[str, dict[str, Any]] = {}
    outcomes: dict[str, int] = {}
    seen_versions: set[int] = set()
    calls = 0
    for field, n in counters.items():
        version_s, node, counter = field.split("|", 2)
        version = int(version_s)
        seen_versions.add(version)
        if versions is not None and version not in versions:
            continue
        if node == "":
            if counter == "calls":
                calls += n
            elif counter.startswith("outcome:"):
                key = counter.removeprefix("outcome:")
                outcomes[key] = outcomes.get(key, 0) + n
            continue
        row = nodes.setdefault(node, {"node": node, "kind": kinds.get(node),
                                      "reached": 0, "exits": {}, **{f: 0 for f in FAILURES}})
        if counter == "reached":
            row["reached"] += n
        elif counter.startswith("exit:"):
            way = counter.removeprefix("exit:")
            row["exits"][way] = row["exits"].get(way, 0) + n
        elif counter in FAILURES:
            row[counter] += n
    ranked = {node: i for i, node in enumerate(order)}
    rows = sorted(nodes.values(), key=lambda r: (ranked.get(r["node"], len(ranked)), r["node"]))
    for row in rows:
        row["hangup"] = row["exits"].get("hangup", 0)
        row["share"] = round(row["reached"] / calls, 4) if calls else None
        row["exits"] = dict(sorted(row["exits"].items(), key=lambda kv: -kv[1]))
    return {"calls": calls, "outcomes": outcomes, "rows": rows, "versions": sorted(seen_versions)}


class Funnel:
    def __init__(self, *, call_log: CallLog, menus: LiveMenus, clock: Callable[[], float]) -> None:
        self.call_log = call_log
        self.menus = menus
        self.clock = clock

    def table(self, menu: str, *, version: int | None = None, days: int = 7,
              language: str = "ru") -> dict[str, Any]:
        """The funnel of ``menu``; each node named by its label in ``language`` (the menu's
        ``labels:``), its id when it has none."""
        days = max(1, min(MAX_DAYS, days))
        counters = self.call_log.counters(menu, days_back(self.clock(), days))
        try:
            current = self.menus.get(menu)
            order, kinds = list(current.nodes), {k: n.kind for k, n in current.nodes.items()}
        except KeyError:
            current, order, kinds = None, [], {}
        table = funnel_table(counters, versions=None if version is None else {version},
                             order=order, kinds=kinds)
        for row in table["rows"]:
            row["label"] = (current.label(row["node"], language) if current else None) or row["node"]
        return {"menu": menu, "version": version, "days": days, **table}
