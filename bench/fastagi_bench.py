"""FastAGI load benchmark: N concurrent calls walking the shipped hotline menu.

    python bench/fastagi_bench.py [--levels 100,500,1000] [--seconds 10]

The server (the real FastAgiServer, CallRunner and hotline menu, with an in-memory
scripted world) runs in a child process; this process is the load generator: one
selector loop playing Asterisk for every call with the reply formats of
:class:`ivr.asterisk.peer.AsteriskPeer`.  A caller listens to prompts for ``--prompt-ms``,
waits ``min(timeout, --key-ms)`` at WAIT FOR DIGIT, chooses the language, is
recorded, enters an ИНН (read back, confirmed), picks a topic, consents, waits in
queue until an operator is reserved, and the next call dials in at once, so N
calls are always in progress.

Reported per level: the server's turnaround per AGI command (our reply sent -> its
next command received, p50/p99), as a ratio to the bare loopback round trip (an echo
server in the same child process, measured in the same run), and the server
process's RSS growth per call in progress.  Loopback only, bounded in time.
"""

from __future__ import annotations

import argparse
import calendar
import heapq
import os
import selectors
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "asterisk"))

NOON = calendar.timegm((2026, 3, 18, 9, 0, 0))  # a Wednesday, 12:00 Moscow: queues open


# -- the server process -------------------------------------------------------------------


def serve() -> None:
    from world import World, hotline_menu

    from ivr.asterisk.server import FastAgiServer
    from ivr.asterisk.session import CallSetup
    from ivr.call import CallRunner

    if os.environ.get("BENCH_SWITCH"):
        sys.setswitchinterval(float(os.environ["BENCH_SWITCH"]))
    if os.environ.get("BENCH_NOGC"):
        import gc
        gc.disable()
    menu = hotline_menu()
    world = World(polls_until_operator=3)
    t0 = time.monotonic()

    def clock() -> float:
        return NOON + time.monotonic() - t0

    def factory(env: dict[str, str]) -> CallSetup:
        return CallSetup(runner=CallRunner(menu=menu, services=world, clock=clock),
                         appeal=world.allocate_appeal())

    server = FastAgiServer("127.0.0.1", 0, call_factory=factory, clock=clock, max_calls=5000)
    server.start()
    echo = socket.create_server(("127.0.0.1", 0), backlog=16)

    def echo_loop() -> None:
        conn, _ = echo.accept()
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        reader = conn.makefile("rb")
        while line := reader.readline():
            conn.sendall(line)

    threading.Thread(target=echo_loop, daemon=True).start()
    print(server.address[1], echo.getsockname()[1], flush=True)
    sys.stdin.readline()  # the parent closes stdin when done
    server.shutdown(1.0)


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


# -- the load generator ---------------------------------------------------------------------


class BenchCaller:
    def __init__(self, script: str) -> None:
        from fake_asterisk import ScriptedCaller

        self.inner = ScriptedCaller(script)
        self.delay = 0.0

    def hear(self, kind: str, what: str, escape: str) -> str | None:
        self.delay = ARGS.prompt_ms / 1000
        return self.inner.hear(kind, what, escape)

    def wait_key(self, ms: int) -> str | None:
        self.delay = min(ms, ARGS.key_ms) / 1000
        return self.inner.wait_key(ms)

    def speak(self, max_ms: int, escape: str) -> str | None:
        self.delay = ARGS.prompt_ms / 1000
        return None

    def event(self, text: str) -> None:
        pass


class Call:
    def __init__(self, n: int, address: tuple[str, int], inn: str) -> None:
        from ivr.asterisk.peer import AsteriskPeer, default_env, env_block

        self.caller = BenchCaller("1" + inn + ",,,1" + "4" + "1" + "." * 200)
        self.peer = AsteriskPeer(self.caller)  # type: ignore[arg-type]
        self.sock = socket.create_connection(address)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.sock.setblocking(False)
        self.buf = b""
        self.sent_at: float | None = None
        env = default_env(caller=f"7999{n:07d}", uniqueid=f"{n}.1")
        self.sock.sendall(env_block(env))
        self.commands = 0


def loopback_rtt(port: int, rounds: int = 2000) -> list[float]:
    sock = socket.create_connection(("127.0.0.1", port))
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    reader = sock.makefile("rb")
    out = []
    for _ in range(rounds):
        t = time.perf_counter()
        sock.sendall(b"200 result=0\n")
        reader.readline()
        out.append(time.perf_counter() - t)
    sock.close()
    return out


def run_level(n: int, address: tuple[str, int], server_pid: int, seconds: float) -> dict[str, float]:
    from ivr.identity import synthetic_inn

    sel = selectors.DefaultSelector()
    timers: list[tuple[float, int, Call, bytes]] = []
    samples: list[float] = []
    counter = 0
    calls_done = 0
    base_rss = rss_kib(server_pid)
    next_id = n * 100000

    def dial() -> None:
        nonlocal next_id
        next_id += 1
        call = Call(next_id, address, synthetic_inn(next_id))
        sel.register(call.sock, selectors.EVENT_READ, call)

    ramp_end = time.monotonic() + min(2.0, seconds / 4)
    for i in range(n):
        dial()
        if i % 50 == 49:
            time.sleep(max(0.0, (ramp_end - time.monotonic()) / max(1, (n - i) / 50)))
    measure_from = time.monotonic() + 1.0
    stop_at = measure_from + seconds
    peak_rss = 0
    while time.monotonic() < stop_at:
        timeout = 0.05
        if timers:
            timeout = max(0.0, min(timeout, timers[0][0] - time.monotonic()))
        for key, _ in sel.select(timeout):
            call: Call = key.data
            try:
                chunk = call.sock.recv(65536)
            except (BlockingIOError, InterruptedError):
                continue
            except OSError:
                chunk = b""
            now = time.perf_counter()
            if not chunk:  # the server closed the call: it is over; the next caller dials
                sel.unregister(call.sock)
                call.sock.close()
                calls_done += 1
                dial()
                continue
            call.buf += chunk
            while b"\n" in call.buf:
                raw, call.buf = call.buf.split(b"\n", 1)
                if call.sent_at is not None and time.monotonic() >= measure_from:
                    samples.append(now - call.sent_at)
                call.sent_at = None
                call.caller.delay = 0.0
                lines = call.peer.reply(raw.decode())
                counter += 1
                heapq.heappush(timers, (time.monotonic() + call.caller.delay, counter, call,
                                        "".join(x + "\n" for x in lines).encode()))
        while timers and timers[0][0] <= time.monotonic():
            _, _, call, data = heapq.heappop(timers)
            try:
                call.sock.sendall(data)
                call.sent_at = time.perf_counter()
            except OSError:
                pass
        peak_rss = max(peak_rss, rss_kib(server_pid)) if counter % 500 == 0 else peak_rss
    rss = rss_kib(server_pid)
    for key in list(sel.get_map().values()):
        key.fileobj.close()  # type: ignore[union-attr]
    sel.close()
    samples.sort()
    return {
        "p50": samples[len(samples) // 2],
        "p99": samples[int(len(samples) * 0.99)],
        "commands": len(samples),
        "calls_done": calls_done,
        "rss_per_call_kib": (rss - base_rss) / n,
    }


def main() -> None:
    global ARGS
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--levels", default="100,500,1000")
    parser.add_argument("--seconds", type=float, default=10.0, help="measured seconds per level")
    parser.add_argument("--prompt-ms", type=int, default=300, help="how long a prompt plays")
    parser.add_argument("--key-ms", type=int, default=200, help="how long WAIT FOR DIGIT waits")
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    ARGS = parser.parse_args()
    if ARGS.serve:
        serve()
        return
    child = subprocess.Popen([sys.executable, __file__, "--serve"], stdin=subprocess.PIPE,
                             stdout=subprocess.PIPE, text=True, cwd=ROOT)
    assert child.stdout is not None and child.stdin is not None
    agi_port, echo_port = map(int, child.stdout.readline().split())
    rtt = sorted(loopback_rtt(echo_port))
    rtt50, rtt99 = rtt[len(rtt) // 2], rtt[int(len(rtt) * 0.99)]
    print(f"cpus={os.cpu_count()} python={sys.version.split()[0]} prompt={ARGS.prompt_ms}ms key={ARGS.key_ms}ms")
    print(f"bare loopback round trip: p50 {rtt50 * 1e3:.3f} ms, p99 {rtt99 * 1e3:.3f} ms")
    print(f"{'calls':>6} {'cmds':>7} {'p50 ms':>8} {'p99 ms':>8} {'p50/rtt':>8} {'p99/rtt':>8} {'KiB/call':>9}")
    try:
        for level in (int(x) for x in ARGS.levels.split(",")):
            r = run_level(level, ("127.0.0.1", agi_port), child.pid, ARGS.seconds)
            print(f"{level:>6} {int(r['commands']):>7} {r['p50'] * 1e3:>8.3f} {r['p99'] * 1e3:>8.3f} "
                  f"{r['p50'] / rtt50:>8.1f} {r['p99'] / rtt50:>8.1f} {r['rss_per_call_kib']:>9.1f}",
                  flush=True)
            time.sleep(1.0)
    finally:
        child.stdin.close()
        child.wait(timeout=30)


ARGS: argparse.Namespace

if __name__ == "__main__":
    main()
