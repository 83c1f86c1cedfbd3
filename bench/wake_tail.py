"""How a Redis call's tail grows with the server's time on it, client sleeping or watching.

    python bench/wake_tail.py                 # 25-300 us of server work, 3 x 2,000 calls each

Not the routing scripts: a Lua loop (``EVAL``) calibrated to take a given time on the
server, so what is measured is the machine, not our code.  For each duration, blocks of
calls alternate between a client that sleeps in ``recv`` for the reply (as the shipped
engine does) and one that watches its socket first (busy polling, :func:`watch_for_reply`
below: the engine once had it as ``routing.reply_busy_poll_us``, removed by issue 19), on
one kept connection.
Reported: each mode's p50 and p99, and p99 as a ratio to PING's p50 through redis-py
(the baseline of ``bench/routing_bench.py``), measured in the same run between blocks.

On a virtual machine a vCPU whose thread sleeps goes idle and is halted; the reply must
wait for the host to wake it, which costs more, at the tail, the longer the sleep.  A
diagnostic of the machine: run it before and after the operating system's tuning of
docs/scale-out.md ("Latency tuning is the operating system's": a ``tuned``
latency-performance profile, ``cpuidle-haltpoll`` on KVM guests) to see what it wins.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import redis
from routing_bench import pct, timed

from tests.redis_servers import RedisServer

LOOP = "local x = 0 for i = 1, tonumber(ARGV[1]) do x = x + i end return 1"


def watch_for_reply(conn: Any, seconds: float) -> None:
    """Return when ``conn`` has something to read, or after ``seconds``: a look is a
    non-blocking ``poll``, then the CPU is yielded (``sched_yield``)."""
    until = time.perf_counter() + seconds
    while not conn.can_read(0):
        if time.perf_counter() >= until:
            return
        os.sched_yield()


def one_call(conn: Any, sha: str, loops: int, watch: float) -> float:
    t = time.perf_counter()
    conn.send_command("EVALSHA", sha, 0, loops)
    if watch:
        watch_for_reply(conn, watch)
    conn.read_response()
    return time.perf_counter() - t


def calibrate(conn: Any, sha: str, micros: float) -> int:
    """Loop iterations that take about ``micros`` of server time (INFO commandstats)."""
    client_loops = 20_000
    for _ in range(50):
        one_call(conn, sha, client_loops, 0)
    conn.send_command("CONFIG", "RESETSTAT")
    conn.read_response()
    for _ in range(200):
        one_call(conn, sha, client_loops, 0)
    conn.send_command("INFO", "commandstats")
    stats = conn.read_response().decode()
    line = next(x for x in stats.splitlines() if x.startswith("cmdstat_evalsha:"))
    per_call = float(line.split("usec_per_call=")[1].split(",")[0])
    return max(1, int(client_loops * micros / per_call))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--micros", default="25,50,100,150,200,300",
                        help="server time per call to try, us")  # fmt: skip
    parser.add_argument("--calls", type=int, default=2_000, help="calls per block")
    parser.add_argument("--rounds", type=int, default=3, help="blocks of each mode")
    parser.add_argument("--watch-us", type=int, default=1_000)
    args = parser.parse_args()
    server = RedisServer().start()
    try:
        client = redis.Redis(host="127.0.0.1", port=server.port)
        sha = client.script_load(LOOP)
        conn = client.connection_pool.get_connection()
        watch = args.watch_us / 1e6
        print(f"{'server us':>9} {'mode':10} {'p50 us':>7} {'p99 us':>7} {'p99/PING p50':>12}")
        for micros in (float(x) for x in args.micros.split(",")):
            loops = calibrate(conn, sha, micros)
            lat: dict[str, list[float]] = {"sleeping": [], "watching": []}
            pings: list[float] = []
            for _ in range(args.rounds):
                for mode in lat:
                    pings += [timed(client.ping)[0] for _ in range(300)]
                    w = watch if mode == "watching" else 0.0
                    lat[mode] += [one_call(conn, sha, loops, w) for _ in range(args.calls)]
            base = statistics.median(pings)
            for mode, xs in lat.items():
                p50, p99 = pct(xs, 0.5), pct(xs, 0.99)
                print(
                    f"{micros:9.0f} {mode:10} {p50 * 1e6:7.0f} {p99 * 1e6:7.0f} {p99 / base:12.2f}",
                    flush=True,
                )
        client.connection_pool.release(conn)
        client.close()
    finally:
        server.close()


if __name__ == "__main__":
    main()
