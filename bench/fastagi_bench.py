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

Calls dial one at a time, evenly over the ramp (``--lockstep``: as the first version,
50 at the same instant with the generator deaf meanwhile, which left every call of a
level in step with the others: bursts of hundreds of replies at once).

Reported per level: the server's turnaround per AGI command (our reply sent -> its
next command received, p50/p99; "received" is when the generator's select returned
with it, not after it had dealt with the lines before), as a ratio to the bare
loopback round trip (an echo server in the same child process, measured in the same
run); the server process's RSS growth per call in progress; the CPU used by the
server and by this generator (100% = one core); how long the server's threads waited,
runnable, for a CPU (schedstat; 100% = one thread waiting all the time); the
machine's CPU pressure (PSI
``some avg10``: how much of the last 10 s something runnable waited for a CPU -- on a
shared machine, the other tenants); and the same turnaround seen inside the server
(bytes read -> next command written; the event-loop server only), which leaves out
waking the process, waiting for the loop, and the wire.  Loopback only, bounded in time.

The scripted world is in memory and never blocks, so by default the server runs its
service calls inline (``service_workers=0``), as the thread-per-call server did in each
call's thread.  In production they go to Redis and to a thread pool:

    BENCH_SERVICE_WORKERS=4   the server's service pool, as shipped (the hand-off to a
                              pool thread and back is then part of what is measured)
"""

from __future__ import annotations

import argparse
import calendar
import heapq
import inspect
import os
import selectors
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

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

    kw: dict[str, Any] = {}
    if "service_workers" in inspect.signature(FastAgiServer).parameters:  # the event-loop server
        kw["service_workers"] = int(os.environ.get("BENCH_SERVICE_WORKERS", "0"))
    server = FastAgiServer("127.0.0.1", 0, call_factory=factory, clock=clock, max_calls=5000, **kw)
    server.start()
    echo = socket.create_server(("127.0.0.1", 0), backlog=16)

    def echo_loop() -> None:
        conn, _ = echo.accept()
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        reader = conn.makefile("rb")
        while line := reader.readline():
            conn.sendall(line)

    threading.Thread(target=echo_loop, daemon=True).start()
    inside = probe_server_side()
    print(server.address[1], echo.getsockname()[1], flush=True)
    for line in sys.stdin:  # "reset"/"report" around each level; EOF when done
        if line.strip() == "reset":
            inside.clear()
            print("ok", flush=True)
            continue
        inside.sort()
        if inside:
            p50, p99 = inside[len(inside) // 2], inside[int(len(inside) * 0.99)]
            print(f"{p50} {p99}", flush=True)
        else:
            print("nan nan", flush=True)
    server.shutdown(1.0)


def probe_server_side() -> list[float]:
    """Time, inside the server, from a reply's bytes read to the next command written.

    This leaves out what the generator's figure also holds: the kernel waking the
    server, the bytes waiting while the loop serves other sockets, and the way back.
    (Only for the event-loop server; the thread-per-call one has no such hook.)
    """
    samples: list[float] = []
    try:
        from ivr.asterisk.connection import AgiConnection
    except ImportError:
        return samples
    read, write = AgiConnection.buffer_updated, AgiConnection.write

    def buffer_updated(self: Any, nbytes: int) -> None:
        self.bench_read_at = time.perf_counter()
        read(self, nbytes)

    def write_line(self: Any, line: str) -> None:
        at = getattr(self, "bench_read_at", None)
        if at is not None:
            samples.append(time.perf_counter() - at)
            self.bench_read_at = None
        write(self, line)

    AgiConnection.buffer_updated = buffer_updated  # type: ignore[method-assign]
    AgiConnection.write = write_line  # type: ignore[method-assign]
    return samples


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def runqueue_wait(pid: int) -> dict[str, float]:
    """Seconds each thread of a process has waited for a CPU while runnable (schedstat)."""
    waits = {}
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            waits[task.name] = int((task / "schedstat").read_text().split()[1]) / 1e9
        except (OSError, IndexError, ValueError):
            pass
    return waits


def cpu_pressure() -> float | None:
    """Share of the last 10 s some runnable task waited for a CPU (Linux PSI), in %."""
    try:
        first = Path("/proc/pressure/cpu").read_text().splitlines()[0]
    except (OSError, IndexError):
        return None
    return float(first.split("avg10=")[1].split()[0])


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


def run_level(n: int, address: tuple[str, int], server_pid: int, seconds: float,
              ask_server: Callable[[str], str]) -> dict[str, float]:
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

    ramp = min(2.0, seconds / 4)
    ramp_end = time.monotonic() + ramp
    dialled = 0
    if ARGS.lockstep:  # the first version: groups of 50 at once, nobody answered meanwhile
        for i in range(n):
            dial()
            if i % 50 == 49:
                time.sleep(max(0.0, (ramp_end - time.monotonic()) / max(1, (n - i) / 50)))
        dialled = n
    ramp_start = time.monotonic()
    measure_from = ramp_end + 1.0
    stop_at = measure_from + seconds
    peak_rss = 0
    cpu0: tuple[float, float] | None = None
    wait0: dict[str, float] = {}
    while time.monotonic() < stop_at:
        while dialled < n and time.monotonic() >= ramp_start + ramp * dialled / n:
            dial()  # one at a time, evenly over the ramp, while answering the calls in progress
            dialled += 1
        if cpu0 is None and time.monotonic() >= measure_from:
            cpu0 = (cpu_seconds(server_pid), cpu_seconds(os.getpid()))
            wait0 = runqueue_wait(server_pid)
            ask_server("reset")
        timeout = 0.05 if dialled == n else 0.001
        if timers:
            timeout = max(0.0, min(timeout, timers[0][0] - time.monotonic()))
        ready = sel.select(timeout)
        now = time.perf_counter()  # every line in this batch had arrived by now
        for key, _ in ready:
            call: Call = key.data
            try:
                chunk = call.sock.recv(65536)
            except (BlockingIOError, InterruptedError):
                continue
            except OSError:
                chunk = b""
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
    psi = cpu_pressure()
    wait1 = runqueue_wait(server_pid)
    waited = sum(w - wait0[t] for t, w in wait1.items() if t in wait0) / seconds
    inside50, inside99 = map(float, ask_server("report").split())
    assert cpu0 is not None
    server_cpu = (cpu_seconds(server_pid) - cpu0[0]) / seconds
    client_cpu = (cpu_seconds(os.getpid()) - cpu0[1]) / seconds
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
        "server_cpu": server_cpu,
        "psi": float("nan") if psi is None else psi,
        "waited": waited,
        "inside50": inside50,
        "inside99": inside99,
        "client_cpu": client_cpu,
    }


def main() -> None:
    global ARGS
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--levels", default="100,500,1000")
    parser.add_argument("--seconds", type=float, default=10.0, help="measured seconds per level")
    parser.add_argument("--prompt-ms", type=int, default=300, help="how long a prompt plays")
    parser.add_argument("--key-ms", type=int, default=200, help="how long WAIT FOR DIGIT waits")
    parser.add_argument("--lockstep", action="store_true",
                        help="dial as the first version did: 50 calls at the same instant, the "
                             "generator deaf during the ramp, so the calls then move in lock-step")
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    ARGS = parser.parse_args()
    if ARGS.serve:
        serve()
        return
    child = subprocess.Popen([sys.executable, __file__, "--serve"], stdin=subprocess.PIPE,
                             stdout=subprocess.PIPE, text=True, cwd=ROOT)
    assert child.stdout is not None and child.stdin is not None
    agi_port, echo_port = map(int, child.stdout.readline().split())

    def ask_server(what: str) -> str:
        assert child.stdout is not None and child.stdin is not None
        child.stdin.write(what + "\n")
        child.stdin.flush()
        return child.stdout.readline()

    rtt = sorted(loopback_rtt(echo_port))
    rtt50, rtt99 = rtt[len(rtt) // 2], rtt[int(len(rtt) * 0.99)]
    print(f"cpus={os.cpu_count()} python={sys.version.split()[0]} prompt={ARGS.prompt_ms}ms key={ARGS.key_ms}ms "
          f"service_workers={os.environ.get('BENCH_SERVICE_WORKERS', '0')} (where the server has them)")
    print(f"bare loopback round trip: p50 {rtt50 * 1e3:.3f} ms, p99 {rtt99 * 1e3:.3f} ms")
    print(f"{'calls':>6} {'cmds':>7} {'p50 ms':>8} {'p99 ms':>8} {'p50/rtt':>8} {'p99/rtt':>8} "
          f"{'KiB/call':>9} {'srv CPU':>8} {'srv wait':>8} {'gen CPU':>8} {'CPU PSI':>8} {'in-srv p50/p99 ms':>18}")
    try:
        for level in (int(x) for x in ARGS.levels.split(",")):
            r = run_level(level, ("127.0.0.1", agi_port), child.pid, ARGS.seconds, ask_server)
            print(f"{level:>6} {int(r['commands']):>7} {r['p50'] * 1e3:>8.3f} {r['p99'] * 1e3:>8.3f} "
                  f"{r['p50'] / rtt50:>8.1f} {r['p99'] / rtt50:>8.1f} {r['rss_per_call_kib']:>9.1f} "
                  f"{r['server_cpu']:>7.0%} {r['waited']:>8.0%} {r['client_cpu']:>7.0%} "
                  f"{'-' if r['psi'] != r['psi'] else format(r['psi'], '.0f') + '%':>8} "
                  f"{r['inside50'] * 1e3:>8.3f}/{r['inside99'] * 1e3:<8.3f}",
                  flush=True)
            time.sleep(1.0)
    finally:
        child.stdin.close()
        child.wait(timeout=30)


ARGS: argparse.Namespace

if __name__ == "__main__":
    main()
