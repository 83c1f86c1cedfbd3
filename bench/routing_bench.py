"""Benchmark of the routing engine on a real Redis: a single server and a 3-master cluster.

    python bench/routing_bench.py            # 10,000 waiting calls, 1,000 operators
    python bench/routing_bench.py --quick    # 2,000 calls, 200 operators

Drives the real ``Router``: enqueue (all operators offline, so calls pile up), status
(position and expected wait) of random waiting calls, and assignment (operators
become available one after another, each taking the best waiting call for them, then
answer, end and come back).  Latencies are reported as p50 / p99 in microseconds and as
ratios to a bare Redis round trip (PING p50 measured in the same run); throughput as
operations a second and as a ratio to PING-bound throughput (1 / PING p50).  One client,
one process: the figures are per engine process.  Bounded: stops after --seconds per phase.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import time
from collections.abc import Callable
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from ivr.config.schema import OperatorConfig, QueueConfig, RoutingSettings  # noqa: E402
from routing.engine import Router  # noqa: E402
from routing.model import WaitingCall  # noqa: E402
from routing.redis_conn import connect  # noqa: E402
from tests.redis_servers import RedisClusterNodes, RedisServer  # noqa: E402

QUEUES = {
    name: QueueConfig(skills=(name,))
    for name in ("registration", "status", "forms", "payments", "signature", "benefits")
}
QUEUES["special"] = QueueConfig(skills=("special",), urgent=True)


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(p * len(ordered)))]


def timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    t = time.perf_counter()
    result = fn()
    return time.perf_counter() - t, result


def operators(n: int, rnd: random.Random) -> dict[str, OperatorConfig]:
    skills = list(QUEUES)
    out = {}
    for i in range(n):
        mine = rnd.sample(skills, rnd.randint(2, 4))
        langs = ("ru", "en") if rnd.random() < 0.3 else ("ru",)
        out[f"op{i:04d}"] = OperatorConfig(f"Op {i}", {s: rnd.randint(2, 5) for s in mine}, f"PJSIP/op{i:04d}", langs)
    return out


def run(kind: str, url: str, calls: int, ops: int, seconds: float) -> dict[str, Any]:
    rnd = random.Random(42)
    redis = connect(url, embedded_dir="/tmp/unused")
    router = Router(
        redis=redis,
        queues=QUEUES,
        operators=operators(ops, rnd),
        settings=RoutingSettings(),
        prefix=f"bench{os.getpid()}",
    )
    ping = [timed(redis.ping)[0] for _ in range(3000)]
    base = statistics.median(ping)
    rows: dict[str, Any] = {"PING": (ping, len(ping) / sum(ping))}

    names = list(QUEUES)
    lat = []
    t_end = time.monotonic() + seconds
    n = 0
    for n in range(calls):
        q = rnd.choice(names)
        call = WaitingCall(
            f"c{n}", q, QUEUES[q].skills, rnd.choice((0, 0, 0, 1)), "ru" if rnd.random() < 0.9 else "en",
            "+7900", time.time(), {"topic": q},
        )  # fmt: skip
        lat.append(timed(lambda c=call: router.enqueue(c))[0])
        if time.monotonic() > t_end:
            break
    enqueued = n + 1
    rows["enqueue"] = (lat, len(lat) / sum(lat))

    lat = [timed(lambda i=rnd.randrange(enqueued): router.status(f"c{i}"))[0] for _ in range(3000)]
    rows["status (position + wait)"] = (lat, len(lat) / sum(lat))

    # Assignment: operators become available; each takes the best call for it.
    lat, cycle = [], []
    op_ids = list(router.operators)
    t_end = time.monotonic() + seconds
    busy: list[tuple[str, str]] = []
    for op_id in op_ids:
        dt_, _ = timed(lambda o=op_id: router.set_operator_state(o, "available"))
        st = redis.hget(router.keys.operator(op_id), "call")
        if st:
            lat.append(dt_)
            busy.append((op_id, st.decode()))
    while busy and time.monotonic() < t_end:
        op_id, call_id = busy.pop(0)
        t0 = time.perf_counter()
        router.connected(call_id)
        router.ended(call_id)
        dt_, _ = timed(lambda o=op_id: router.set_operator_state(o, "available"))  # ends wrap-up
        st = redis.hget(router.keys.operator(op_id), "call")
        cycle.append(time.perf_counter() - t0)
        if st:
            lat.append(dt_)
            busy.append((op_id, st.decode()))
    rows["assignment (available -> reserved)"] = (lat, len(lat) / sum(lat))
    rows["cycle (answer + end + next assignment)"] = (cycle, len(cycle) / sum(cycle))
    redis.close()
    return {"kind": kind, "base": base, "rows": rows, "enqueued": enqueued}


def report(result: dict[str, Any]) -> str:
    base = result["base"]
    lines = [
        f"== {result['kind']}: PING p50 {base * 1e6:.0f} us; {result['enqueued']} calls enqueued",
        f"{'operation':42} {'n':>6} {'p50 us':>8} {'p99 us':>8} {'p50/PING':>9} {'p99/PING':>9} {'ops/s':>8} {'ops/PING-ops':>12}",
    ]
    for name, (lat, ops) in result["rows"].items():
        p50, p99 = pct(lat, 0.5), pct(lat, 0.99)
        lines.append(
            f"{name:42} {len(lat):6d} {p50 * 1e6:8.0f} {p99 * 1e6:8.0f} {p50 / base:9.2f} {p99 / base:9.2f}"
            f" {ops:8.0f} {ops * base:12.2f}"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="2,000 calls, 200 operators")
    parser.add_argument("--calls", type=int, default=10_000)
    parser.add_argument("--operators", type=int, default=1_000)
    parser.add_argument("--seconds", type=float, default=60.0, help="bound on each phase")
    parser.add_argument("--only", choices=("single", "cluster"))
    args = parser.parse_args()
    calls, ops = (2_000, 200) if args.quick else (args.calls, args.operators)
    if args.only != "cluster":
        server = RedisServer().start()
        try:
            print(report(run("single server", server.url, calls, ops, args.seconds)), flush=True)
        finally:
            server.close()
    if args.only != "single":
        cluster = RedisClusterNodes().start()
        try:
            print(report(run("3-master cluster", cluster.url, calls, ops, args.seconds)), flush=True)
        finally:
            cluster.close()


if __name__ == "__main__":
    main()
