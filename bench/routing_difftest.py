"""Differential check of the routing engine against an earlier revision of itself.

    python bench/routing_difftest.py                    # against a7ac071, seeds 0-19
    python bench/routing_difftest.py --rev HEAD~3 --seeds 0 100 --steps 400

Extracts ``routing/`` of ``--rev`` (``git archive``) into a temporary package
``routing_old``, then drives both engines on one real Redis (separate key prefixes, the
same fake clock) with the same random operations: enqueues (queues with widening, no
widening, several skills, urgent, opening hours with callbacks, overflow), operator state
changes, connected / ended / abandon, callback requests and results, due callbacks,
assignment ticks and clock jumps.  After every operation the replies must agree (values
and error types); every third operation the status of every call (state, position,
expected wait, assignment, overflow), every operator and the queue snapshots; at the end
the whole event stream.  Prints each first difference per run.

Runs stay below the old engine's scan bound (64 entries a class), so a difference means
a change of behaviour, not the deeper search.  A verification tool, not part of the suite.
"""

from __future__ import annotations

import argparse
import os
import random
import subprocess
import sys
import tempfile
from typing import Any

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)


def extract(rev: str, into: str) -> None:
    """``routing/`` of ``rev`` as the package ``routing_old`` in ``into``."""
    archive = subprocess.run(
        ["git", "-C", ROOT, "archive", rev, "routing"], check=True, capture_output=True
    ).stdout
    subprocess.run(["tar", "-x", "-C", into], input=archive, check=True)
    os.rename(os.path.join(into, "routing"), os.path.join(into, "routing_old"))
    for folder, _, files in os.walk(os.path.join(into, "routing_old")):
        for name in files:
            if name.endswith(".py"):
                path = os.path.join(folder, name)
                with open(path) as f:
                    text = f.read()
                text = text.replace("from routing.", "from routing_old.")
                text = text.replace("from routing import", "from routing_old import")
                with open(path, "w") as f:
                    f.write(text)


import redis as R

from ivr.config.schema import CallbackRule, OperatorConfig, QueueConfig, RoutingSettings, Widening
from routing.engine import Router as NewRouter
from routing.errors import RoutingError
from routing.hours import Hours, parse_weekly
from routing.model import WaitingCall
from tests.redis_servers import RedisServer
from tests.routing.conftest import T0, FakeClock

QUEUES = {
    "general": QueueConfig(skills=("general",)),
    "payments": QueueConfig(skills=("payments",), widening=(Widening(0, 4), Widening(30, 2))),
    "mixed": QueueConfig(skills=("general", "payments"), widening=()),
    "special": QueueConfig(skills=("special",), urgent=True),
    "day": QueueConfig(
        skills=("general",),
        hours=Hours(weekly=parse_weekly({"daily": "08:00-20:00"})),
        callback=CallbackRule(attempts=2, retry_after=120),
    ),
    "short": QueueConfig(skills=("payments",), max_wait=200, overflow="general"),
}


def make_ops(rnd: random.Random, n: int) -> dict[str, OperatorConfig]:
    skills = ["general", "payments", "special"]
    ops = {}
    for i in range(n):
        mine = rnd.sample(skills, rnd.randint(1, 3))
        langs = ("ru", "en") if rnd.random() < 0.3 else ("ru",)
        ops[f"op{i:02d}"] = OperatorConfig(
            f"Op {i}", {s: rnd.randint(1, 5) for s in mine}, f"PJSIP/op{i:02d}", langs
        )
    return ops


def norm_assign(a: Any) -> tuple[Any, ...] | None:
    return None if a is None else (a.call_id, a.operator_id, a.kind, a.queue, a.number)


def status_of(r: Any, cid: str) -> tuple[Any, ...]:
    st = r.status(cid)
    wait = None if st.expected_wait is None else round(st.expected_wait, 6)
    return (st.state, st.position, wait, norm_assign(st.assignment), st.overflow_to)


def operator_of(r: Any, op_id: str) -> tuple[Any, ...]:
    st = r.operator_status(op_id)
    return (st.state, st.since, norm_assign(st.assignment))


def snapshot_of(r: Any) -> list[tuple[Any, ...]]:
    return [
        (s.queue, s.waiting, s.longest_wait, None if s.expected_wait is None else round(s.expected_wait, 6), s.callbacks_pending)
        + (s.answered, s.answered_within, s.abandoned, s.operators)
        for s in r.snapshot()
    ]


def act(r: Any, op: tuple[Any, ...]) -> Any:
    """Perform one operation on router ``r``; a comparable reply."""
    kind, *a = op
    if kind == "enqueue":
        p = r.enqueue(a[0])
        return (p.position, round(p.expected_wait, 6), p.offer_callback, norm_assign(p.assignment))
    if kind == "set_state":
        r.set_operator_state(a[0], a[1])  # the old engine returned nothing
        return None
    if kind in ("connected", "ended", "abandon"):
        return getattr(r, kind)(a[0])
    if kind == "request_callback":
        return r.request_callback(a[0], a[1]).callback_id
    if kind == "callback_result":
        return r.callback_result("cb-" + a[0], answered=a[1])
    if kind == "due":
        return [norm_assign(x) for x in r.due_callbacks()]
    if kind == "assign":
        return sorted(norm_assign(x) for x in r.assign())
    raise ValueError(kind)


def run(seed: int, steps: int, n_ops: int, url: str, wrap: int) -> str | None:
    rnd = random.Random(seed)
    ops = make_ops(rnd, n_ops)
    settings = RoutingSettings(wrap_up_seconds=wrap)
    clock = FakeClock(T0 + rnd.randint(-40000, 20000))
    redis = R.Redis.from_url(url)
    old = OldRouter(
        redis=redis,
        queues=QUEUES,
        operators=ops,
        settings=settings,
        clock=clock,
        prefix=f"o{seed}",
    )
    new = NewRouter(
        redis=redis,
        queues=QUEUES,
        operators=ops,
        settings=settings,
        clock=clock,
        prefix=f"n{seed}",
    )
    calls: list[str] = []

    def both(op: tuple[Any, ...]) -> list[tuple[str, Any]]:
        out = []
        for r in (old, new):
            try:
                out.append(("ok", act(r, op)))
            except (RoutingError, OldRoutingError) as e:
                out.append(("err", type(e).__name__))
        return out

    for step in range(steps):
        x = rnd.random()
        desc: tuple[Any, ...]
        if x < 0.25:
            cid = f"c{len(calls):03d}"
            q = rnd.choice(list(QUEUES))
            call = WaitingCall(
                cid,
                q,
                QUEUES[q].skills,
                rnd.choice((0, 0, 1, 2)),
                "ru" if rnd.random() < 0.8 else "en",
                f"+7916{rnd.randint(0, 30):07d}",
                clock.now - rnd.choice((0, 0, 5, 100)),
                {"topic": q},
            )
            calls.append(cid)
            desc = ("enqueue", call)
        elif x < 0.45:
            states = ("available", "available", "break", "offline", "wrap_up")
            desc = ("set_state", rnd.choice(list(ops)), rnd.choice(states))
        elif x < 0.62 and calls:
            desc = (rnd.choice(("connected", "ended", "abandon")), rnd.choice(calls))
        elif x < 0.68 and calls:
            desc = ("request_callback", rnd.choice(calls), f"+7916{rnd.randint(0, 30):07d}")
        elif x < 0.74 and calls:
            desc = ("callback_result", rnd.choice(calls), rnd.random() < 0.5)
        elif x < 0.8:
            desc = ("due",)
        elif x < 0.88:
            desc = ("assign",)
        else:
            desc = ("advance", rnd.choice((1, 5, 20, 31, 61, 121, 181, 600, 3600)))
        if desc[0] == "advance":
            clock.advance(desc[1])
            continue
        res = both(desc)
        if res[0] != res[1]:
            return f"seed {seed} step {step} {desc}: old {res[0]} new {res[1]}"
        # full comparison every few steps
        if step % 3 == 0:
            for cid in calls:
                a, b = status_of(old, cid), status_of(new, cid)
                if a != b:
                    return f"seed {seed} step {step} after {desc}: status {cid} old {a} new {b}"
            for o in ops:
                a, b = operator_of(old, o), operator_of(new, o)
                if a != b:
                    return f"seed {seed} step {step} after {desc}: operator {o} old {a} new {b}"
            a, b = snapshot_of(old), snapshot_of(new)
            if a != b:
                return f"seed {seed} step {step} after {desc}: snapshot old {a} new {b}"
    eo = [e for _, e in old.events(count=1_000_000)]
    en = [e for _, e in new.events(count=1_000_000)]
    if eo != en:
        for i, (a, b) in enumerate(zip(eo, en)):
            if a != b:
                return f"seed {seed}: events differ at {i}: old {a} new {b}"
        return f"seed {seed}: events count old {len(eo)} new {len(en)}"
    return None


OldRouter: Any = None
OldRoutingError: Any = None


def main() -> None:
    global OldRouter, OldRoutingError
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rev", default="a7ac071", help="the revision to compare with")
    parser.add_argument("--seeds", type=int, nargs=2, default=(0, 20), metavar=("FROM", "TO"))
    parser.add_argument("--steps", type=int, default=300)
    args = parser.parse_args()
    tmp = tempfile.mkdtemp(prefix="routing-old-")
    extract(args.rev, tmp)
    sys.path.insert(0, tmp)
    from routing_old.engine import Router as old_router
    from routing_old.errors import RoutingError as old_error

    OldRouter, OldRoutingError = old_router, old_error
    server = RedisServer().start()
    try:
        seeds = range(*args.seeds)
        steps = args.steps
        bad = 0
        for seed in seeds:
            for wrap in (0, 30):
                msg = run(seed * 2 + (wrap > 0), steps, 8 + seed % 10, server.url, wrap)
                if msg:
                    bad += 1
                    print(msg)
        print("done", len(seeds) * 2, "runs,", bad, "differences")
    finally:
        server.close()


if __name__ == "__main__":
    main()
