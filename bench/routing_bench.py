"""Benchmark of the routing engine on a real Redis: a single server and a 3-master cluster.

    python bench/routing_bench.py               # 10,000 waiting calls, 1,000 operators
    python bench/routing_bench.py --procs 2     # the assignment phase in 2 engine processes
    python bench/routing_bench.py --quick       # 2,000 calls, 200 operators

Drives the real ``Router``: enqueue (all operators offline, so calls pile up), status
(position and expected wait) of random waiting calls, and assignment (operators become
available one after another, each taking the best waiting call for them; then answer, end
and come back, and so on until the calls run out).  Latencies are reported as p50 / p99 in
microseconds and as ratios to a bare Redis round trip (PING p50 through redis-py, the
path the scripts take too, measured in the same run); throughput as operations a second
of one client doing only that (1 / mean latency).  Since issue 19 the routing goal is
throughput and correctness (``bench/routing_difftest.py``), not microseconds: the
latency columns are there to notice a regression, not a target.

For the machine as a whole: ``assignments/s`` is wall-clock, all engine processes
together (``--procs N`` splits the operators between N processes sharing one Redis), for
the assignment phase where every assignment after each operator's first also includes
answering and ending the previous call.  ``srv CPU`` / ``cli CPU``: CPU microseconds per
operation of the Redis server(s) and of the engine process(es), from ``INFO cpu`` and the
processes' own CPU clocks: what bounds throughput when cores are shared.  Bounded: stops
after --seconds per phase.  ``--rounds N`` repeats the runs, each with its own server and
its own PING baseline.  The last line of each run gives the host's steal time over the
assignment phase (/proc/stat): the share of vCPU time the host gave to others.
(The CPU-idle tuning once tried here from user space is now the operating system's:
docs/scale-out.md, "Latency tuning is the operating system's".)

``--pin``: the Redis server(s) on the last CPU, this process (and its engine processes)
on the others, as a production Redis host would be set up (``taskset``/``CPUAffinity``):
the scheduler then stops moving the two sides across each other's cores.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import random
import statistics
import sys
import time
from collections.abc import Callable
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from ivr.config.schema import OperatorConfig, QueueConfig, RoutingSettings
from routing.engine import Router
from routing.model import WaitingCall
from routing.redis_conn import connect
from tests.redis_servers import RedisClusterNodes, RedisServer

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
        out[f"op{i:04d}"] = OperatorConfig(
            f"Op {i}", {s: rnd.randint(2, 5) for s in mine}, f"PJSIP/op{i:04d}", langs
        )
    return out


def waiting_call(n: int, rnd: random.Random, at: float) -> WaitingCall:
    """The bench's n-th call: a random queue, priority and language (drawn in that order)."""
    q = rnd.choice(list(QUEUES))
    return WaitingCall(
        f"c{n}", q, QUEUES[q].skills, rnd.choice((0, 0, 0, 1)), "ru" if rnd.random() < 0.9 else "en",
        "+7900", at, {"topic": q},
    )  # fmt: skip


def make_router(url: str, ops: int, prefix: str) -> Router:
    rnd = random.Random(42)
    return Router(
        redis=connect(url, embedded_dir="/tmp/unused"),
        queues=QUEUES,
        operators=operators(ops, rnd),
        settings=RoutingSettings(),
        prefix=prefix,
    )


def server_cpu(redis: Any) -> float:
    """CPU seconds used so far by the Redis server(s) (all masters of a cluster)."""
    if hasattr(redis, "get_primaries"):
        infos = [redis.get_redis_connection(n).info("cpu") for n in redis.get_primaries()]
    else:
        infos = [redis.info("cpu")]
    return sum(float(i["used_cpu_sys"]) + float(i["used_cpu_user"]) for i in infos)


def cpu_times() -> tuple[int, int]:
    """Steal and total time of all CPUs so far, in clock ticks (the ``cpu`` line of /proc/stat)."""
    with open("/proc/stat") as f:
        ticks = [int(x) for x in f.readline().split()[1:]]
    return ticks[7], sum(ticks[:8])  # user nice system idle iowait irq softirq steal


def assignment_loop(
    url: str,
    ops: int,
    prefix: str,
    op_ids: list[str],
    seconds: float,
    start_at: float,
) -> dict[str, Any]:
    """One engine process: its operators become available, then answer, end, come back."""
    router = make_router(url, ops, prefix)
    while time.time() < start_at:
        time.sleep(0.001)
    cpu0, t0 = time.process_time(), time.perf_counter()
    lat: list[float] = []
    cycle: list[float] = []
    busy: list[tuple[str, str]] = []
    for op_id in op_ids:
        dt_, a = timed(lambda o=op_id: router.set_operator_state(o, "available"))
        if a is not None:
            lat.append(dt_)
            busy.append((op_id, a.call_id))
    t_end = time.monotonic() + seconds
    i = 0
    while i < len(busy) and time.monotonic() < t_end:
        op_id, call_id = busy[i]
        i += 1
        c0 = time.perf_counter()
        router.connected(call_id)
        router.ended(call_id)
        dt_, a = timed(lambda o=op_id: router.set_operator_state(o, "available"))  # ends wrap-up
        cycle.append(time.perf_counter() - c0)
        if a is not None:
            lat.append(dt_)
            busy.append((op_id, a.call_id))
    wall = time.perf_counter() - t0
    router.redis.close()
    return {"lat": lat, "cycle": cycle, "wall": wall, "cpu": time.process_time() - cpu0}


ASSIGNMENT = "assignment (available -> reserved)"


def run(
    kind: str,
    url: str,
    calls: int,
    ops: int,
    seconds: float,
    procs: int = 1,
) -> dict[str, Any]:
    rnd = random.Random(42)
    prefix = f"bench{os.getpid()}"
    router = make_router(url, ops, prefix)
    operators(ops, rnd)  # the same draws as make_router's, so the calls are as before
    redis = router.redis
    ping = [timed(redis.ping)[0] for _ in range(3000)]
    base = statistics.median(ping)
    rows: dict[str, Any] = {"PING": (ping, len(ping) / sum(ping), None, None)}

    def cpu_mark() -> tuple[float, float]:
        return server_cpu(redis), time.process_time()

    def cpu_per_op(mark: tuple[float, float], n: int) -> tuple[float, float]:
        srv, cli = cpu_mark()
        return (srv - mark[0]) / max(n, 1), (cli - mark[1]) / max(n, 1)

    lat = []
    t_end = time.monotonic() + seconds
    mark = cpu_mark()
    n = 0
    for n in range(calls):
        call = waiting_call(n, rnd, time.time())
        lat.append(timed(lambda c=call: router.enqueue(c))[0])
        if time.monotonic() > t_end:
            break
    enqueued = n + 1
    rows["enqueue"] = (lat, len(lat) / sum(lat), *cpu_per_op(mark, len(lat)))

    picks = [f"c{rnd.randrange(enqueued)}" for _ in range(3000)]
    mark = cpu_mark()
    lat = [timed(lambda c=c: router.status(c))[0] for c in picks]
    rows["status (position + wait)"] = (lat, len(lat) / sum(lat), *cpu_per_op(mark, len(lat)))

    # Assignment: operators become available; each takes the best call for it.
    op_ids = list(router.operators)
    mark = cpu_mark()
    steal_mark = cpu_times()
    start_at = time.time() + (3.0 if procs > 1 else 0.0)
    if procs == 1:
        results = [assignment_loop(url, ops, prefix, op_ids, seconds, start_at)]
    else:
        ctx = multiprocessing.get_context("spawn")
        with ctx.Pool(procs) as pool:
            jobs = [
                pool.apply_async(
                    assignment_loop,
                    (url, ops, prefix, op_ids[i::procs], seconds, start_at),
                )
                for i in range(procs)
            ]
            results = [j.get(timeout=seconds + 120) for j in jobs]
    srv = server_cpu(redis) - mark[0]
    steal, total = (now - then for now, then in zip(cpu_times(), steal_mark, strict=True))
    lat = [x for r in results for x in r["lat"]]
    assigned = len(lat)
    rows[ASSIGNMENT] = (lat, len(lat) / sum(lat), None, None)
    cycle = [x for r in results for x in r["cycle"]]
    cli = sum(r["cpu"] for r in results)
    wall = max(r["wall"] for r in results)
    rows["cycle (answer + end + next assignment)"] = (
        cycle, len(cycle) / sum(cycle), srv / len(cycle), cli / len(cycle),
    )  # fmt: skip
    redis.close()
    return {
        "kind": kind,
        "base": base,
        "rows": rows,
        "enqueued": enqueued,
        "procs": procs,
        "assigned": assigned,
        "wall": wall,
        "steal": steal / max(total, 1),
    }


def report(result: dict[str, Any]) -> str:
    base = result["base"]
    title = (
        f"== {result['kind']}: PING p50 {base * 1e6:.0f} us; {result['enqueued']} calls enqueued;"
        f" assignment phase in {result['procs']} engine process(es)"
    )
    header = (
        f"{'operation':40} {'n':>6} {'p50 us':>7} {'p99 us':>7} {'p50/PING':>8} {'p99/PING':>8}"
        f" {'ops/s':>7} {'srv CPU':>7} {'cli CPU':>7}"
    )
    lines = [title, header]
    for name, (lat, ops, srv, cli) in result["rows"].items():
        p50, p99 = pct(lat, 0.5), pct(lat, 0.99)
        cpu = "" if srv is None else f" {srv * 1e6:7.0f} {cli * 1e6:7.0f}"
        lines.append(
            f"{name:40} {len(lat):6d} {p50 * 1e6:7.0f} {p99 * 1e6:7.0f} {p50 / base:8.2f}"
            f" {p99 / base:8.2f} {ops:7.0f}{cpu}"
        )
    lines.append(
        f"machine: {result['assigned']} assignments in {result['wall']:.2f} s wall ="
        f" {result['assigned'] / result['wall']:.0f} assignments/s"
        f" ({result['procs']} process(es); CPU per cycle in the last row);"
        f" host steal {result['steal']:.1%} of vCPU time"
    )
    return "\n".join(lines)


def pin(servers: list[RedisServer]) -> None:
    """Redis on the last CPU; this process, and the engine processes it starts, on the rest."""
    cpus = sorted(os.sched_getaffinity(0))
    if len(cpus) < 2:
        return
    for server in servers:
        assert server.proc is not None
        os.sched_setaffinity(server.proc.pid, {cpus[-1]})
    os.sched_setaffinity(0, set(cpus[:-1]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="2,000 calls, 200 operators")
    parser.add_argument("--calls", type=int, default=10_000)
    parser.add_argument("--operators", type=int, default=1_000)
    parser.add_argument("--seconds", type=float, default=60.0, help="bound on each phase")
    parser.add_argument("--procs", type=int, default=1, help="engine processes for assignment")
    parser.add_argument("--only", choices=("single", "cluster"))
    parser.add_argument(
        "--pin",
        action="store_true",
        help="Redis on the last CPU, the engine process(es) on the others",
    )
    parser.add_argument("--rounds", type=int, default=1, help="repeat the runs")
    args = parser.parse_args()
    calls, ops = (2_000, 200) if args.quick else (args.calls, args.operators)
    for _ in range(args.rounds):
        run_both(args, calls, ops)


def run_both(args: argparse.Namespace, calls: int, ops: int) -> None:
    if args.only != "cluster":
        server = RedisServer().start()
        if args.pin:
            pin([server])
        try:
            result = run("single server", server.url, calls, ops, args.seconds, args.procs)
            print(report(result), flush=True)
        finally:
            server.close()
    if args.only != "single":
        cluster = RedisClusterNodes().start()
        if args.pin:
            pin(cluster.nodes)
        try:
            result = run("3-master cluster", cluster.url, calls, ops, args.seconds, args.procs)
            print(report(result), flush=True)
        finally:
            cluster.close()


if __name__ == "__main__":
    main()
