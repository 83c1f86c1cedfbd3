"""Where the routing scripts' slow calls fall: by position among all script calls, modulo 50.

    python bench/routing_tail.py                 # 10,000 calls, 1,000 operators, 6 rounds

Redis (7.0, the Debian package) runs a forced Lua garbage-collector step after every 50th
script or function call (``luaCallFunction``: ``LUA_GC_CYCLE_PERIOD``), whatever the
script; Functions may not call ``collectgarbage`` to spread it.  This plays the
assignment phase of ``bench/routing_bench.py`` (answer, end, available again) on a
throwaway server, times every call, and counts the calls slower than 2.5 times their
script's median by their position modulo 50: a peak at one position is that step.

A diagnostic, not a benchmark: it prints counts and percentiles, not ratios.
"""

from __future__ import annotations

import argparse
import collections
import os
import random
import sys
import time
from collections.abc import Callable
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import routing_bench

from tests.redis_servers import RedisServer

PERIOD = 50


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=10_000)
    parser.add_argument("--operators", type=int, default=1_000)
    parser.add_argument("--rounds", type=int, default=6)
    args = parser.parse_args()
    server = RedisServer().start()
    try:
        router = routing_bench.make_router(server.url, args.operators, "tail")
        rnd = random.Random(42)
        routing_bench.operators(args.operators, rnd)
        for n in range(args.calls):
            router.enqueue(routing_bench.waiting_call(n, rnd, time.time()))
        seq: list[tuple[str, float]] = []  # every timed script call, in order

        def timed(kind: str, fn: Callable[[], Any]) -> Any:
            t = time.perf_counter()
            out = fn()
            seq.append((kind, time.perf_counter() - t))
            return out

        free = [(o, router.set_operator_state(o, "available")) for o in router.operators]
        for _ in range(args.rounds):
            busy = [(o, a.call_id) for o, a in free if a is not None]
            free = []
            for op_id, call_id in busy:
                timed("connected", lambda c=call_id: router.connected(c))
                timed("ended", lambda c=call_id: router.ended(c))
                a = timed("set_state", lambda o=op_id: router.set_operator_state(o, "available"))
                free.append((op_id, a))
        medians = {}
        for kind in ("connected", "ended", "set_state"):
            xs = sorted(dt for k, dt in seq if k == kind)
            medians[kind] = xs[len(xs) // 2]
            print(
                f"{kind:10} n={len(xs):6d}  p50={xs[len(xs) // 2] * 1e6:6.0f} us"
                f"  p99={xs[int(len(xs) * 0.99)] * 1e6:6.0f} us"
            )
        slow = [i for i, (k, dt) in enumerate(seq) if dt > 2.5 * medians[k]]
        by_phase = collections.Counter(i % PERIOD for i in slow)
        phase, peak = by_phase.most_common(1)[0] if by_phase else (0, 0)
        print(
            f"slow calls (over 2.5x their median): {len(slow)} of {len(seq)}; "
            f"at one position modulo {PERIOD} ({phase}): {peak} "
            f"({100 * peak / max(len(slow), 1):.0f} %; {100 / PERIOD:.0f} % if spread evenly)"
        )
        on_phase = [dt for i, (k, dt) in enumerate(seq) if k == "set_state" and i % PERIOD == phase]
        off_phase = sorted(
            dt for i, (k, dt) in enumerate(seq) if k == "set_state" and i % PERIOD != phase
        )
        on_phase.sort()
        if on_phase and off_phase:
            print(
                f"set_state p50 at that position {on_phase[len(on_phase) // 2] * 1e6:.0f} us, "
                f"elsewhere {off_phase[len(off_phase) // 2] * 1e6:.0f} us; "
                f"p99 elsewhere {off_phase[int(len(off_phase) * 0.99)] * 1e6:.0f} us"
            )
    finally:
        server.close()


if __name__ == "__main__":
    main()
