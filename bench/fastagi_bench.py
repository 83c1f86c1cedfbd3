"""FastAGI load benchmark: N concurrent calls walking the shipped hotline menu.

    python bench/fastagi_bench.py [--levels 100,500,1000] [--seconds 20]
        [--services memory|redis] [--pace real|stress]

The server runs in a child process; this process is the load generator: one selector
loop playing Asterisk for every call with the reply formats of
:class:`ivr.asterisk.peer.AsteriskPeer`.  A caller chooses the language, is recorded,
enters an ИНН (read back, confirmed), picks a topic, consents, waits in queue, and the
next call dials in as one ends, so N calls are always in progress.

Services (``--services``):
  memory  the real FastAgiServer, CallRunner and hotline menu over an in-memory scripted
          world (an operator after three queue polls); its service calls run inline
          (``BENCH_SERVICE_WORKERS=4``: in the server's pool, as shipped);
  redis   the server exactly as ``ivr serve`` builds it (``build_engine`` from
          config.yaml, ``fastagi_server``, ``settle_interpreter``) on a throwaway redis-server:
          appeal numbers, enqueue with the repeat-caller check, queue polls, leaving the
          queue all go to the real routing engine through the service pool.  Nobody
          staffs the queues, so callers hold until their script runs out.

Pace (``--pace``; see :class:`BenchCaller`): ``real`` plays each prompt as long as its
text takes to say and lets callers take human time, as Asterisk and people do (about
0.8 AGI commands a second per call); ``stress`` gives every prompt ``--prompt-ms`` and
every key or timeout ``--key-ms`` (about 5 commands a second per call, six times the
real rate).  Calls dial one at a time, evenly over the ramp (``--lockstep``: as the
first version, 50 at the same instant with the generator deaf meanwhile).

Reported per level: the server's turnaround per AGI command (our reply sent -> its
next command received, p50/p99; "received" is the kernel's receive timestamp of the
segment (SO_TIMESTAMPNS), so the generator's own lag -- a select that returned late,
hundreds of sockets served before this one -- is not charged to the server; the
generator's view, "select returned with it", is the last column), as a ratio to the bare
loopback round trip (an echo server in the same child process, measured in the same
run); the server process's RSS growth per call in progress; the CPU used by the
server and by this generator (100% = one core); how long the server's threads waited,
runnable, for a CPU (schedstat; 100% = one thread waiting all the time); the
machine's CPU pressure (PSI ``some avg10``: how much of the last 10 s something
runnable waited for a CPU -- on a shared machine, the other tenants); and the same
turnaround seen inside the server (bytes read -> next command written), which leaves
out waking the process, waiting for the loop, and the wire.  Loopback only, bounded
in time.

``BENCH_PROBE=1`` (``2``: with the prompt names) prints to stderr how the server's loop
spent its turns, its garbage-collector pauses, and which commands the slowest 1 %
in-server ended with.
"""

from __future__ import annotations

import argparse
import calendar
import heapq
import inspect
import os
import random
import selectors
import socket
import struct
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, ClassVar

ROOT = Path(__file__).resolve().parents[1]

#: Linux: stamp each received segment with the kernel's receive time (CLOCK_REALTIME),
#: read back from ``recvmsg``'s ancillary data as ``struct timespec``.
SO_TIMESTAMPNS = 35
TIMESPEC = struct.Struct("qq")
sys.path.insert(0, str(ROOT / "tests" / "asterisk"))

NOON = calendar.timegm((2026, 3, 18, 9, 0, 0))  # a Wednesday, 12:00 Moscow: queues open


# -- the server process -------------------------------------------------------------------


def serve() -> None:
    from world import World, hotline_menu

    from ivr.asterisk.server import FastAgiServer
    from ivr.asterisk.session import CallSetup
    from ivr.call import CallRunner

    if os.environ.get("BENCH_NOGC"):
        import gc
        gc.disable()
    t0 = time.monotonic()

    def clock() -> float:
        return NOON + time.monotonic() - t0

    if ARGS.services == "redis":
        server, stop_redis = engine_server(clock)
    else:
        menu = hotline_menu()
        world = World(polls_until_operator=3)

        def factory(env: dict[str, str]) -> CallSetup:
            return CallSetup(runner=CallRunner(menu=menu, services=world, clock=clock),
                             appeal=world.allocate_appeal())

        kw: dict[str, Any] = {}
        if "service_workers" in inspect.signature(FastAgiServer).parameters:  # the event-loop server
            kw["service_workers"] = int(os.environ.get("BENCH_SERVICE_WORKERS", "0"))
        server = FastAgiServer("127.0.0.1", 0, call_factory=factory, clock=clock, max_calls=5000, **kw)
        stop_redis = None
    server.start()
    loop_probe = probe_loop(server) if os.environ.get("BENCH_PROBE") else None
    from ivr.serve import settle_interpreter

    settle_interpreter()  # as ivr serve does once its servers are up
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
    if stop_redis is not None:
        stop_redis()
    if loop_probe is not None:
        loop_probe()


def engine_server(clock: Callable[[], float]) -> tuple[Any, Callable[[], None]]:
    """``--services redis``: the server as ``ivr serve`` builds it, on a throwaway Redis.

    ``build_engine`` from the shipped config.yaml, ``fastagi_server`` from the Asterisk
    wiring: the real routing engine and appeal book behind every call (enqueue, queue
    polls, leave), their calls in the server's service pool as shipped.  Nobody staffs
    the queues, so callers hold until their patience (the script) runs out.
    """
    import dataclasses
    import tempfile

    import redis

    sys.path.insert(0, str(ROOT))
    from ivr.asterisk.wiring import fastagi_server
    from ivr.config import Secrets, load_config
    from ivr.engine import build_engine
    from tests.redis_servers import RedisServer

    if "BENCH_SERVICE_WORKERS" in os.environ:  # an experiment: not the pool as shipped
        import functools

        from ivr.asterisk import wiring

        workers = int(os.environ["BENCH_SERVICE_WORKERS"])
        wiring.FastAgiServer = functools.partial(wiring.FastAgiServer, service_workers=workers)  # type: ignore[misc]
    redis_server = RedisServer().start()
    config = load_config(ROOT / "config.yaml")
    config = dataclasses.replace(
        config,
        recordings=dataclasses.replace(config.recordings, dir=tempfile.mkdtemp(prefix="fastagi-bench-")),
        engine=dataclasses.replace(config.engine, max_calls=5000),
    )
    engine = build_engine(config, Secrets(), redis=redis.Redis.from_url(redis_server.url), clock=clock)
    return fastagi_server(engine, ("127.0.0.1", 0)), redis_server.close


def probe_loop(server: Any) -> Callable[[], None]:
    """BENCH_PROBE=1: how the server's loop spends its turns; printed to stderr at the end.

    Per turn of the loop: how many sockets one ``select`` returned, and how long the loop
    then worked before it selected again (what the last of them waited for).
    """
    sel = server._loop._selector
    select = sel.select
    turns: list[tuple[int, float]] = []
    last = [0.0]

    def timed_select(timeout: float | None = None) -> Any:
        now = time.perf_counter()
        if last[0]:
            turns[-1] = (turns[-1][0], now - last[0])
        events = select(timeout)
        last[0] = time.perf_counter()
        turns.append((len(events), 0.0))
        return events

    sel.select = timed_select
    pauses: dict[int, list[float]] = {0: [], 1: [], 2: []}
    started = [0.0]

    def on_gc(phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            started[0] = time.perf_counter()
        else:
            pauses[info["generation"]].append(time.perf_counter() - started[0])

    import gc
    gc.callbacks.append(on_gc)

    def report() -> None:
        print("gc stats:", gc.get_stats(), "objects:", len(gc.get_objects()), file=sys.stderr)
        for gen, xs in pauses.items():
            if xs:
                print(f"gc gen{gen}: {len(xs)} pauses, p50 {sorted(xs)[len(xs) // 2] * 1e3:.2f} ms, "
                      f"max {max(xs) * 1e3:.1f} ms, total {sum(xs) * 1e3:.0f} ms", file=sys.stderr)
        ready = sorted(n for n, _ in turns)
        work = sorted(w for _, w in turns)
        q = lambda xs, p: xs[min(len(xs) - 1, int(len(xs) * p))]
        print(f"loop turns {len(turns)}; sockets ready per select p50 {q(ready, .5)} p90 {q(ready, .9)} "
              f"p99 {q(ready, .99)} max {ready[-1]}; work per turn p50 {q(work, .5) * 1e3:.2f} ms "
              f"p99 {q(work, .99) * 1e3:.2f} ms max {work[-1] * 1e3:.1f} ms", file=sys.stderr)
        slowest = sorted(SLOW, reverse=True)[: max(1, len(SLOW) // 100)]
        by_command: dict[str, int] = {}
        for _, command in slowest:
            by_command[command] = by_command.get(command, 0) + 1
        print(f"slowest 1% in-server ({len(slowest)}, from {slowest[-1][0] * 1e3:.2f} ms), by the command "
              f"they ended with:", sorted(by_command.items(), key=lambda kv: -kv[1])[:8], file=sys.stderr)
        big = sorted(turns, key=lambda t: -t[1])[:10]
        print("longest turns (sockets, ms):", [(n, round(w * 1e3, 1)) for n, w in big], file=sys.stderr)

    return report


SLOW: list[tuple[float, str]] = []  # BENCH_PROBE: (in-server time, the command it ended with)
#: BENCH_PROBE=1: commands named by their verb ("STREAM FILE"); 2: with the file or variable.
PROBE_WORDS = {"1": 2, "2": 3}.get(os.environ.get("BENCH_PROBE", ""), 0)


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
    # the protocol's entry for bytes read: buffer_updated (a BufferedProtocol, before
    # issue 19) or data_received
    hook = "buffer_updated" if "buffer_updated" in vars(AgiConnection) else "data_received"
    read, write = getattr(AgiConnection, hook), AgiConnection.write

    def bytes_read(self: Any, data: Any) -> None:
        self.bench_read_at = time.perf_counter()
        read(self, data)

    def write_line(self: Any, line: str) -> None:
        at = getattr(self, "bench_read_at", None)
        if at is not None:
            samples.append(time.perf_counter() - at)
            if PROBE_WORDS:
                SLOW.append((samples[-1], " ".join(line.split()[:PROBE_WORDS])))
            self.bench_read_at = None
        write(self, line)

    setattr(AgiConnection, hook, bytes_read)
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


JITTER = random.Random(7)

#: Speech rate of the prompts (characters a second, spaces and punctuation included):
#: a Russian announcer reads 12-15; espeak-ng's default voice about 14.
CHARS_PER_SECOND = 13.0


def human(ms: float) -> float:
    """Seconds a prompt plays or a caller takes: ``ms`` give or take ``--jitter`` of it.

    Real callers are independent: prompts differ in length, people press keys at their
    own pace.  With fixed delays, calls that once answered together (a burst the server
    took a while to clear) would stay in step for the rest of the run.
    """
    return ms * (1 + ARGS.jitter * (2 * JITTER.random() - 1)) / 1000


def between(low: float, high: float) -> float:
    return JITTER.uniform(low, high)


def prompt_seconds() -> dict[str, float]:
    """How long each shipped prompt plays, from its text: ``"ru/menu.main" -> 21.3``."""
    import yaml

    out: dict[str, float] = {}

    def walk(lang: str, node: Any, prefix: str) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                walk(lang, value, f"{prefix}{key}.")
        else:
            out[f"{lang}/{prefix[:-1]}"] = len(str(node)) / CHARS_PER_SECOND

    for path in (ROOT / "prompts").glob("*.yaml"):
        walk(path.stem, yaml.safe_load(path.read_text(encoding="utf-8")), "")
    return out


class BenchCaller:
    """The caller and Asterisk's clock: how long each AGI command takes to come back.

    ``--pace real``, as Asterisk does it: a prompt plays to its end (its text's length at
    :data:`CHARS_PER_SECOND`) unless the caller presses a key it allows, 1.5-4 s in; digits
    are typed 0.3-0.8 s apart, a menu key after 0.5-2 s; WAIT FOR DIGIT with nobody
    pressing runs its whole timeout (so the hold loop asks again every few seconds, not
    every 200 ms); SAY DIGITS takes 0.6 s a digit; a name is spoken in 2-4 s.
    ``--pace stress``: every prompt ``--prompt-ms``, every key or timeout ``--key-ms``
    (each give or take ``--jitter``): the same walk at several times the real command rate.
    """

    PROMPTS: ClassVar[dict[str, float]] = {}  # filled in main(): "ru/menu.main" -> seconds

    def __init__(self, script: str) -> None:
        from fake_asterisk import ScriptedCaller

        self.inner = ScriptedCaller(script)
        self.delay = 0.0
        self.real = ARGS.pace == "real"

    def hear(self, kind: str, what: str, escape: str) -> str | None:
        key: str | None = self.inner.hear(kind, what, escape)
        if not self.real:
            self.delay += human(ARGS.prompt_ms)
        elif kind == "file":
            length = self.PROMPTS.get("/".join(what.rsplit("/", 2)[-2:]), 2.0)
            self.delay += min(length, between(1.5, 4.0)) if key else length
        else:  # SAY DIGITS / SAY NUMBER
            self.delay += 0.6 * len(what) if key is None else between(0.5, 1.5)
        return key

    def wait_key(self, ms: int) -> str | None:
        key: str | None = self.inner.wait_key(ms)
        if not self.real:
            self.delay += human(min(ms, ARGS.key_ms))
        elif key is None:
            self.delay += ms / 1000  # nobody pressed: the whole timeout
        else:
            self.delay += min(ms / 1000, between(0.3, 0.8) if key.isdigit() else between(0.5, 2.0))
        return key

    def speak(self, max_ms: int, escape: str) -> str | None:
        self.delay += between(2.0, 4.0) if self.real else human(ARGS.prompt_ms)
        return None

    def event(self, text: str) -> None:
        pass


class Call:
    def __init__(self, n: int, address: tuple[str, int], inn: str) -> None:
        from ivr.asterisk.peer import AsteriskPeer, default_env, env_block

        self.caller = BenchCaller("1" + inn + ",,,1" + "4" + "1" + "." * 200)
        self.peer = AsteriskPeer(self.caller)
        self.sock = socket.create_connection(address)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.sock.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
        self.sock.setblocking(False)
        self.buf = b""
        self.sent_at: int | None = None  # time.time_ns() our last reply went out
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
    samples: list[float] = []  # kernel receive time - reply sent
    seen: list[float] = []  # the generator's select returned - reply sent
    counter = 0
    calls_done = 0
    base_rss = rss_kib(server_pid)
    next_id = n * 100000

    def dial() -> None:
        nonlocal next_id
        next_id += 1
        call = Call(next_id, address, synthetic_inn(next_id))
        sel.register(call.sock, selectors.EVENT_READ, call)

    ramp = ARGS.ramp if ARGS.ramp is not None else (10.0 if ARGS.pace == "real" else min(2.0, seconds / 4))
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
        now = time.time_ns()  # every line in this batch had arrived by now
        for key, _ in ready:
            call: Call = key.data
            arrived = now
            try:
                chunk, ancillary, _, _ = call.sock.recvmsg(65536, socket.CMSG_SPACE(TIMESPEC.size))
            except (BlockingIOError, InterruptedError):
                continue
            except OSError:
                chunk, ancillary = b"", []
            for level, kind, data in ancillary:
                if level == socket.SOL_SOCKET and kind == SO_TIMESTAMPNS:
                    sec, nsec = TIMESPEC.unpack(data[: TIMESPEC.size])
                    arrived = sec * 1_000_000_000 + nsec
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
                    samples.append((arrived - call.sent_at) / 1e9)
                    seen.append((now - call.sent_at) / 1e9)
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
                call.sent_at = time.time_ns()
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
    seen.sort()
    return {
        "p50": samples[len(samples) // 2],
        "p99": samples[int(len(samples) * 0.99)],
        "seen50": seen[len(seen) // 2],
        "seen99": seen[int(len(seen) * 0.99)],
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
    parser.add_argument("--services", choices=("memory", "redis"), default="memory",
                        help="memory: an in-memory scripted world (an operator after three queue "
                             "polls); redis: the engine as shipped on a throwaway redis-server")
    parser.add_argument("--pace", choices=("real", "stress"), default="real",
                        help="real: prompts and callers take as long as on a real line (see "
                             "BenchCaller); stress: --prompt-ms / --key-ms for every one")
    parser.add_argument("--ramp", type=float, default=None,
                        help="seconds over which a level's calls dial in (default: 10 at real "
                             "pace, 2 at stress pace)")
    parser.add_argument("--jitter", type=float, default=0.5,
                        help="each prompt and key delay varies uniformly by this share of it "
                             "(0: every call exactly --prompt-ms / --key-ms, as before)")
    parser.add_argument("--lockstep", action="store_true",
                        help="dial as the first version did: 50 calls at the same instant, the "
                             "generator deaf during the ramp, so the calls then move in lock-step")
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    ARGS = parser.parse_args()
    if ARGS.serve:
        serve()
        return
    BenchCaller.PROMPTS = prompt_seconds()
    child = subprocess.Popen([sys.executable, __file__, "--serve", "--services", ARGS.services], stdin=subprocess.PIPE,
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
    pace = (f"stress (prompt {ARGS.prompt_ms} ms, key {ARGS.key_ms} ms, jitter {ARGS.jitter:.0%})"
            if ARGS.pace == "stress" else "real")
    workers = ("config (the server as shipped)" if ARGS.services == "redis"
               else os.environ.get("BENCH_SERVICE_WORKERS", "0"))
    print(f"cpus={os.cpu_count()} python={sys.version.split()[0]} pace={pace} services={ARGS.services} "
          f"service_workers={workers}")
    print(f"bare loopback round trip: p50 {rtt50 * 1e3:.3f} ms, p99 {rtt99 * 1e3:.3f} ms")
    print(f"{'calls':>6} {'cmds':>7} {'p50 ms':>8} {'p99 ms':>8} {'p50/rtt':>8} {'p99/rtt':>8} "
          f"{'KiB/call':>9} {'srv CPU':>8} {'srv wait':>8} {'gen CPU':>8} {'CPU PSI':>8} {'in-srv p50/p99 ms':>18} "
          f"{'gen saw p50/p99 ms':>19}")
    try:
        for level in (int(x) for x in ARGS.levels.split(",")):
            r = run_level(level, ("127.0.0.1", agi_port), child.pid, ARGS.seconds, ask_server)
            print(f"{level:>6} {int(r['commands']):>7} {r['p50'] * 1e3:>8.3f} {r['p99'] * 1e3:>8.3f} "
                  f"{r['p50'] / rtt50:>8.1f} {r['p99'] / rtt50:>8.1f} {r['rss_per_call_kib']:>9.1f} "
                  f"{r['server_cpu']:>7.0%} {r['waited']:>8.0%} {r['client_cpu']:>7.0%} "
                  f"{'-' if r['psi'] != r['psi'] else format(r['psi'], '.0f') + '%':>8} "
                  f"{r['inside50'] * 1e3:>8.3f}/{r['inside99'] * 1e3:<8.3f} "
                  f"{r['seen50'] * 1e3:>9.3f}/{r['seen99'] * 1e3:<9.3f}",
                  flush=True)
            time.sleep(1.0)
    finally:
        child.stdin.close()
        child.wait(timeout=30)


ARGS: argparse.Namespace

if __name__ == "__main__":
    main()
