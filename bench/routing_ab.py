"""Two versions of the routing scripts, interleaved call by call in one run.

    python bench/routing_ab.py --base HEAD~1     # the working tree's scripts against HEAD~1's

Timings on this shared 2-vCPU machine drift by tens of percent between runs, and bursts of
steal time come and go within one; comparing two versions run one after the other mostly
measures the drift.  This runs both side by side: two throwaway ``redis-server``s, one
``Router`` on each (the same engine code, the scripts of the working tree on one and those
of ``--base`` on the other, read with ``git show``), the same operators and calls, and
plays the assignment phase of ``bench/routing_bench.py`` alternating between them call by
call, so a noisy moment lands on both.  Prints each version's "available -> reserved"
p50 / p99 as ratios to its own server's PING p50 (PINGs interleaved the same way), and the
new version's figures as ratios to the base's.
"""

from __future__ import annotations

import argparse
import os
import random
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import partial
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import routing_bench

from routing import scripts
from routing.engine import Router
from tests.redis_servers import RedisServer

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@contextmanager
def scripts_of(rev: str) -> Iterator[None]:
    """Routers made inside read their Lua sources from git revision ``rev``."""

    def read(name: str) -> str:
        return subprocess.run(
            ["git", "-C", ROOT, "show", f"{rev}:routing/scripts/{name}.lua"],
            check=True, capture_output=True, text=True,
        ).stdout  # fmt: skip

    own = scripts._read
    scripts._read = read
    try:
        yield
    finally:
        scripts._read = own


class Side:
    """One version: its server, its router, its timings."""

    def __init__(self, label: str, server: RedisServer, router: Router) -> None:
        self.label, self.server, self.router = label, server, router
        self.assign: list[float] = []
        self.ping: list[float] = []
        self.busy: list[tuple[str, str]] = []

    def timed(self, into: list[float], fn: Callable[[], Any]) -> Any:
        t = time.perf_counter()
        out = fn()
        into.append(time.perf_counter() - t)
        return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base", required=True, help="git revision of the other scripts")
    parser.add_argument("--calls", type=int, default=10_000)
    parser.add_argument("--operators", type=int, default=1_000)
    parser.add_argument("--rounds", type=int, default=8)
    args = parser.parse_args()
    servers = [RedisServer().start(), RedisServer().start()]
    try:
        new = Side(
            "new", servers[0], routing_bench.make_router(servers[0].url, args.operators, "ab")
        )
        with scripts_of(args.base):
            base_router = routing_bench.make_router(servers[1].url, args.operators, "ab")
        base = Side(f"base {args.base}", servers[1], base_router)
        sides = (new, base)
        start = time.time()
        for side in sides:
            rnd = random.Random(42)
            routing_bench.operators(args.operators, rnd)  # the same draws as the bench
            for n in range(args.calls):
                side.router.enqueue(routing_bench.waiting_call(n, rnd, start))
        for op_id in new.router.operators:
            for side in sides:
                a = side.router.set_operator_state(op_id, "available")
                if a is not None:
                    side.busy.append((op_id, a.call_id))
        for _ in range(args.rounds):
            work = list(zip(new.busy, base.busy))
            new.busy, base.busy = [], []
            for pair in work:
                for side, (op_id, call_id) in zip(sides, pair):
                    side.router.connected(call_id)
                    side.router.ended(call_id)
                    available = partial(side.router.set_operator_state, op_id, "available")
                    a = side.timed(side.assign, available)
                    if a is not None:
                        side.busy.append((op_id, a.call_id))
                    side.timed(side.ping, side.router.redis.ping)
        report(new, base)
    finally:
        for server in servers:
            server.close()


def report(new: Side, base: Side) -> None:
    figures = {}
    for side in (new, base):
        ping = routing_bench.pct(side.ping, 0.5)
        p50, p99 = routing_bench.pct(side.assign, 0.5), routing_bench.pct(side.assign, 0.99)
        figures[side.label] = (p50, p99)
        print(
            f"{side.label:16} n={len(side.assign):6d}  PING p50 {ping * 1e6:4.0f} us  "
            f"available -> reserved p50 {p50 * 1e6:4.0f} us ({p50 / ping:.2f}x PING)  "
            f"p99 {p99 * 1e6:5.0f} us ({p99 / ping:.2f}x PING)"
        )
    (n50, n99), (b50, b99) = figures[new.label], figures[base.label]
    print(f"new / base: p50 {n50 / b50:.3f}  p99 {n99 / b99:.3f}")


if __name__ == "__main__":
    main()
