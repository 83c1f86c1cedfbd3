"""What a FastAGI call's service calls cost against a real Redis: inline on the loop, or not?

    python bench/service_calls_bench.py [--calls 300]

Starts a throwaway ``redis-server`` on loopback (tests/redis_servers.py), builds the
real engine on it (``build_engine``: Router, AppealBook, RoutedServices) and walks
``--calls`` distinct callers through the hotline menu as the FastAGI server would:
appeal number, language, name, ИНН, readback, topic, consent (enqueue), three queue
polls, hang-up (leave the queue).  Prints each service call's p50/p99 in ms and as a
ratio to Redis PING in the same run.  The FastAGI event loop runs these in a thread
pool (``FastAgiServer(service_workers=...)``) because anything over a fraction of a
millisecond, inline, delays every call in progress.
"""

from __future__ import annotations

import argparse
import collections
import dataclasses
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import redis

from ivr.call import CallRunner
from ivr.config import Secrets, load_config
from ivr.engine import build_engine
from ivr.flow import events as e
from ivr.identity import synthetic_inn
from tests.redis_servers import RedisServer

T0 = 1_795_500_000.0  # a Monday morning in Moscow: topic queues open


class Timed:
    """The services, each call timed into ``times``."""

    def __init__(self, inner: Any, times: dict[str, list[float]]) -> None:
        self.inner, self.times = inner, times

    def __getattr__(self, name: str) -> Callable[..., Any]:
        fn = getattr(self.inner, name)

        def timed(*args: Any, **kw: Any) -> Any:
            started = time.perf_counter()
            try:
                return fn(*args, **kw)
            finally:
                self.times[name].append(time.perf_counter() - started)

        return timed


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(p * len(ordered)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--calls", type=int, default=300)
    args = parser.parse_args()
    server = RedisServer()
    server.start()
    try:
        config = load_config(ROOT / "config.yaml")
        rec = tempfile.mkdtemp(prefix="svc-bench-")
        config = dataclasses.replace(config, recordings=dataclasses.replace(config.recordings, dir=rec))
        clock = [T0]
        engine = build_engine(config, Secrets(), redis=redis.Redis.from_url(server.url), clock=lambda: clock[0])
        menu = engine.menus.get("hotline")
        ping = []
        for _ in range(1000):
            started = time.perf_counter()
            engine.redis.ping()
            ping.append(time.perf_counter() - started)
        times: dict[str, list[float]] = collections.defaultdict(list)
        for i in range(args.calls):
            services = Timed(engine.services(), times)
            runner = CallRunner(menu=menu, services=services, clock=lambda: clock[0])
            at = T0 + i
            runner.start(e.CallStarted(f"c{i}", f"+7999{i:07d}", "88005553535", at,
                                       appeal=services.allocate_appeal()))
            runner.handle(e.DigitsEntered("1", at + 1))  # language
            runner.handle(e.Recorded("clip", at + 2))  # name
            runner.handle(e.DigitsEntered(synthetic_inn(i) + "#", at + 3))
            runner.handle(e.DigitsEntered("1", at + 4))  # readback confirmed
            runner.handle(e.DigitsEntered("4", at + 5))  # payments
            runner.handle(e.DigitsEntered("1", at + 6))  # consent: enqueue
            for k in range(3):
                runner.handle(e.NoInput(at + 30 * (k + 1)))  # queue polls
            runner.handle(e.HungUp(at + 100))  # leave the queue, call ended
        p50 = pct(ping, 0.5)
        print(f"Redis PING: p50 {p50 * 1e3:.3f} ms, p99 {pct(ping, 0.99) * 1e3:.3f} ms")
        print(f"{'service call':16} {'n':>5} {'p50 ms':>8} {'p99 ms':>8} {'p50/PING':>9} {'p99/PING':>9}")
        for name, values in times.items():
            print(f"{name:16} {len(values):>5} {pct(values, 0.5) * 1e3:>8.3f} {pct(values, 0.99) * 1e3:>8.3f} "
                  f"{pct(values, 0.5) / p50:>9.1f} {pct(values, 0.99) / p50:>9.1f}")
        try:
            print(Path("/proc/pressure/cpu").read_text().splitlines()[0])
        except OSError:
            pass
    finally:
        server.stop()


if __name__ == "__main__":
    main()
