"""Memory per call, without concurrency: does an engine keep anything of a finished call?

    python bench/memory_per_call.py [--batches 8] [--calls 600]

One engine in this process (real redis-server on loopback, the FastAGI server, the shipped
menu, metrics and logs on) takes calls one after another: a third book a callback, a third
hang up at the topic menu, a third hang up in the queue.  After each batch: RSS and the
number of objects the garbage collector tracks.  Flat figures mean no per-call leak; the
soak's RSS (bench/soak.py) also follows the peak number of calls in progress (threads,
their stacks and malloc arenas, Redis connections), which a process keeps once reached.
"""

from __future__ import annotations

import argparse
import calendar
import gc
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from ivr.asterisk.peer import default_env
from ivr.asterisk.wiring import fastagi_server
from ivr.config import Secrets, load_config
from ivr.engine import build_engine
from ivr.identity import synthetic_inn
from ivr.ops.logging import configure_logging
from routing.redis_conn import connect
from tests.ops.callers import MenuCaller, place_call
from tests.ops.conftest import RECORDING_KEY, moved_config
from tests.redis_servers import RedisServer

NOON = calendar.timegm((2026, 3, 18, 9, 0, 0))


def rss_kib() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--batches", type=int, default=8)
    parser.add_argument("--calls", type=int, default=600)
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="ivr-mem-"))
    configure_logging(path=tmp / "engine.log")
    redis = RedisServer().start()
    t0 = time.monotonic()
    engine = build_engine(moved_config(load_config(ROOT / "config.yaml"), tmp),
                          Secrets(recording_key=RECORDING_KEY),
                          redis=connect(redis.url, embedded_dir=str(tmp / "unused")),
                          clock=lambda: NOON + time.monotonic() - t0)
    server = fastagi_server(engine, ("127.0.0.1", 0))
    server.start()
    stop = threading.Event()

    def background() -> None:
        while not stop.wait(0.2):
            engine.tick()

    threading.Thread(target=background, daemon=True).start()
    print(f"{'calls':>6} {'RSS MiB':>8} {'objects':>8}")
    try:
        for k in range(args.batches):
            for i in range(k * args.calls, (k + 1) * args.calls):
                caller = [MenuCaller(numbers=[synthetic_inn(i)], callback="own"),
                          MenuCaller(numbers=[synthetic_inn(i)], hang_up_at="menu.main"),
                          MenuCaller(numbers=[synthetic_inn(i)], hang_up_at="queue.position")][i % 3]
                place_call(server.address, caller, default_env(caller=f"7999{i:07d}", uniqueid=f"m.{i}"))
            gc.collect()
            print(f"{(k + 1) * args.calls:>6} {rss_kib() / 1024:>8.1f} {len(gc.get_objects()):>8}", flush=True)
    finally:
        stop.set()
        server.shutdown(1.0)
        redis.close()


if __name__ == "__main__":
    main()
