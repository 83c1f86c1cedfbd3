"""Screen-pop benchmark: from the routing assignment to the pop on the operator's screen.

    python bench/screenpop_bench.py [--calls 200] [--warmup 10]

Everything real and on loopback: a Redis server; an engine process (child) serving the
Flask app with the engine's HTTP server (ivr.web.server) and its background tick, as
``ivr serve`` does; Debian's Chromium (headless) logged in there as operator op102, ready.  This
process is a second engine process on the same Redis: each call walks the hotline menu
(CallRunner with the engine's routed services, as a FastAGI session does) to the payments
queue; routing assigns it to op102 at once and writes the ``assigned`` event to the Redis
stream.  The delay is that event's stream id (the Redis server's clock, ms) to the moment
the page has drawn the pop (``Date.now()`` after the DOM update), same host clock.  Then
the call is ended through routing, the operator made ready again, and the next call follows.

Baseline, in the same run, the same browser and the same child process: a bare
Server-Sent Events round trip — a minimal WSGI app under werkzeug's threaded server pushes
``time.time()`` from a queue, a bare page writes it into the DOM.  Calls and baseline
samples alternate in blocks of 50 (two windows), so both see the same machine load.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import queue
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from werkzeug.serving import make_server

from ivr.config import Secrets, load_config
from ivr.engine import build_engine
from ivr.identity import synthetic_inn
from routing.redis_conn import connect
from tests.console.conftest import place_call
from tests.console.live import LiveConsole, chromium, live_config, log_in, noon_clock
from tests.redis_servers import RedisServer

SETTLE = 0.15
BARE_PAGE = b"""<!doctype html><meta charset="utf-8"><title>bare SSE</title><p id="v">-</p>
<script>
window.samples = [];
const source = new EventSource("/events");
source.addEventListener("tick", (event) => {
  const data = JSON.parse(event.data);
  document.getElementById("v").textContent = String(data.n);
  window.samples.push({ n: data.n, eventMs: data.ms, shownMs: Date.now() });
});
</script>"""


class BareSSE:
    """The baseline: one page, one event stream fed from a queue, nothing else."""

    def __init__(self) -> None:
        self.queue: queue.Queue[bytes] = queue.Queue()
        self.server = make_server("127.0.0.1", 0, self.app, threaded=True)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def app(self, environ: dict[str, Any], start_response: Any) -> Any:
        if environ["PATH_INFO"] == "/events":
            start_response("200 OK", [("Content-Type", "text/event-stream"), ("Cache-Control", "no-store")])
            return self.stream()
        start_response("200 OK", [("Content-Type", "text/html; charset=utf-8")])
        return [BARE_PAGE]

    def stream(self) -> Any:
        yield b"retry: 1000\n\n"
        while True:
            try:
                yield self.queue.get(timeout=15)
            except queue.Empty:
                yield b": keep-alive\n\n"

    def push(self, n: int) -> None:
        data = json.dumps({"n": n, "ms": time.time() * 1000})
        self.queue.put(f"event: tick\ndata: {data}\n\n".encode())


def serve(redis_url: str, prefix: str) -> None:
    """The engine process: console + bare SSE; pushes a baseline event per stdin line."""
    import logging

    logging.disable(logging.WARNING)
    live = LiveConsole(load_config(ROOT / "config.yaml"), redis_url=redis_url, prefix=prefix,
                       wrap_up_seconds=0).start()
    bare = BareSSE()
    print(live.base_url, bare.url, flush=True)
    for line in sys.stdin:
        bare.push(int(line))
    live.stop()


def wait_for(driver: Any, script: str, count: int, timeout: float = 5.0, *, settle: float = 0.0) -> None:
    """Wait until the page has ``count`` samples.  ``settle``: first leave the browser alone
    that long (asking it through WebDriver loads the same two cores the measurement runs on)."""
    time.sleep(settle)
    deadline = time.monotonic() + timeout
    while driver.execute_script(script) < count:
        if time.monotonic() > deadline:
            raise TimeoutError(f"the page did not receive event {count}")
        time.sleep(0.02)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--calls", type=int, default=200)
    parser.add_argument("--warmup", type=int, default=10)
    parser.add_argument("--block", type=int, default=50)
    parser.add_argument("--serve", nargs=2, metavar=("REDIS_URL", "PREFIX"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(*args.serve)
        return 0

    redis = RedisServer().start()
    prefix = "bench" + uuid.uuid4().hex[:8]
    child = subprocess.Popen([sys.executable, __file__, "--serve", redis.url, prefix],
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, bufsize=1)
    assert child.stdout is not None and child.stdin is not None
    base_url, bare_url = child.stdout.readline().split()
    workdir = Path(tempfile.mkdtemp(prefix="ivr-bench-"))
    config = live_config(load_config(ROOT / "config.yaml"), workdir, prefix=prefix, wrap_up_seconds=0)
    engine = build_engine(dataclasses.replace(config, users={}), Secrets(),
                          redis=connect(redis.url, embedded_dir=str(workdir)), clock=noon_clock())
    driver = chromium(tempfile.mkdtemp(prefix="ivr-bench-chromium-"))
    try:
        log_in(driver, base_url, "olga")
        time.sleep(1.0)
        console_window = driver.current_window_handle
        driver.execute_script("document.getElementById('go-ready').click()")
        wait_for(driver, "return document.getElementById('state').dataset.state === 'available' ? 1 : 0", 1)
        driver.switch_to.new_window("window")
        bare_window = driver.current_window_handle
        driver.get(bare_url)
        time.sleep(0.5)

        total = args.calls + args.warmup
        n_call = n_tick = 0
        while n_call < total or n_tick < total:
            driver.switch_to.window(bare_window)
            for _ in range(min(args.block, total - n_tick)):
                n_tick += 1
                child.stdin.write(f"{n_tick}\n")
                wait_for(driver, "return window.samples.length", n_tick, settle=SETTLE)
            driver.switch_to.window(console_window)
            for _ in range(min(args.block, total - n_call)):
                n_call += 1
                call_id = f"bench-{n_call}"
                place_call(engine, call_id, caller=f"+7999{n_call:07d}", inn=synthetic_inn(n_call))
                wait_for(driver, "return window.ivrConsole.timings.length", n_call, settle=SETTLE)
                engine.router.connected(call_id)
                engine.router.ended(call_id)
                engine.router.set_operator_state("op102", "available")
        driver.switch_to.window(console_window)
        pops = driver.execute_script("return window.ivrConsole.timings")
        driver.switch_to.window(bare_window)
        ticks = driver.execute_script("return window.samples")
    finally:
        driver.quit()
        child.stdin.close()
        child.wait(timeout=20)
        redis.close()

    pop_ms = [p["shownMs"] - p["eventMs"] for p in pops[args.warmup:]]
    handler_ms = [p["receivedMs"] - p["eventMs"] for p in pops[args.warmup:]]
    tick_ms = [t["shownMs"] - t["eventMs"] for t in ticks[args.warmup:]]
    p50, p99 = percentile(pop_ms, 0.5), percentile(pop_ms, 0.99)
    b50, b99 = percentile(tick_ms, 0.5), percentile(tick_ms, 0.99)
    print(f"screen-pop, assignment -> drawn ({len(pop_ms)} calls): p50 {p50:.1f} ms  p99 {p99:.1f} ms  "
          f"max {max(pop_ms):.1f} ms  mean {statistics.fmean(pop_ms):.1f} ms")
    print(f"  of which assignment -> page's event handler: p50 {percentile(handler_ms, 0.5):.1f} ms  "
          f"p99 {percentile(handler_ms, 0.99):.1f} ms")
    print(f"baseline, bare SSE round trip ({len(tick_ms)} events): p50 {b50:.1f} ms  p99 {b99:.1f} ms  "
          f"max {max(tick_ms):.1f} ms")
    print(f"ratio to baseline: p50 {p50 / max(b50, 0.5):.1f}x  p99 {p99 / max(b99, 0.5):.1f}x")
    print(f"within one second: {sum(x <= 1000 for x in pop_ms)} of {len(pop_ms)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
