"""Soak under faults: the shipped menu at a steady call rate into two engine processes
sharing one redis-server, while Redis is restarted, one engine is killed and
restarted, callers hang up mid-prompt and garbage arrives on the AGI socket.

    python bench/soak.py [--minutes 3] [--rate 4] [--operators 16] [--seed 1] [--json]

Loopback only, bounded in time (the load runs ``--minutes``; the wind-down after it
is capped at two minutes).  Everything is real except the people: ``redis-server``
with the append-only file (``appendfsync always``), two ``ivr serve`` processes, and
this process playing Asterisk for every call (the replies of
:class:`ivr.asterisk.peer.AsteriskPeer`, a caller who answers the shipped menu by the
prompt they hear), the dialplan after AGI (``IVR_STATUS=connect``: Dial the operator;
anything else: the fallback queue), hagi:// SRV (a call goes to A or B by turns, to
the other one when the first refuses the connection), the operators and the AMI
events (connected, ended after 1-3 s of talk, 1 s wrap-up) and the callback dialer
(``due_callbacks``, the citizen answers).

Faults (``D`` = the load's duration): at 0.20 D redis-server is SIGKILLed and back 2 s
later; at 0.45 D engine B is SIGKILLed and started again 3 s later; all along 10% of
callers hang up in the middle of a prompt, 5% of calls get a garbage line instead of
a reply, and every 5 s a connection sends garbage instead of an AGI environment.

Every offered call ends in exactly one row of the report:

=====================  =================================================================
connected              the engine handed the call to the operator it reserved
callback delivered     booked in the menu, then dialled and answered
ended by the menu      the menu said goodbye (e.g. every operator busy)
abandoned by caller    the caller hung up (mid-prompt, or out of patience on hold)
handed back            ``IVR_STATUS=handback|busy``: the dialplan's fallback queue
cut by the kill        on engine B when it was SIGKILLed: the dialplan's fallback queue
                       (its queue entry is abandoned by A once B's lease runs out)
engine unavailable     both engines refused the connection: the dialplan's fallback
protocol fault         we sent garbage; the engine ended the call and cleaned up
lost                   anything else: closed without a status by a live engine, stuck,
                       a booked callback gone from Redis, a queue entry left behind
=====================  =================================================================

Duplicated assignments are read from the routing event stream: a call reserved
while already reserved, a call answered twice, a callback dialled twice.
"""

from __future__ import annotations

import argparse
import heapq
import json
import random
import re
import socket
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from ivr.asterisk.peer import AsteriskPeer, default_env, env_block
from ivr.identity import corrupt_checksum, synthetic_inn
from tests.ops.callers import MenuCaller
from tests.ops.engines import EngineProcess, write_config
from tests.redis_servers import RedisServer

PROMPT_S, KEY_S, RECORD_S, SAY_S, HOLD_S = 0.15, 0.05, 0.3, 0.1, 1.0
READ_TIMEOUT, MAX_CALL = 60.0, 150.0
HANG_UP_PROMPTS = ["welcome", "language.choose", "identity.say_name", "identity.enter_number",
                   "menu.main", "consent.ask_keys", "queue.position"]
TOPICS = ["4", "5", "6", "7", "0"]  # payments, e-signature, benefits, special, operator


# -- the people: operators, AMI, the callback dialer -------------------------------------------


class Operators:
    """Bridges calls handed over by the engines, ends them after a talk; dials callbacks."""

    def __init__(self, router: Any, rng: random.Random) -> None:
        self.router = router
        self.rng = rng
        self.heap: list[tuple[float, int, Callable[[], None]]] = []
        self.seq = 0
        self.lock = threading.Condition()
        self.anomalies: Counter[str] = Counter()
        self.dialled: Counter[str] = Counter()  # callback call id -> times dialled
        self.delivered: set[str] = set()
        self.stop = threading.Event()
        self.threads = [threading.Thread(target=self._run, name="operators", daemon=True),
                        threading.Thread(target=self._dial, name="dialer", daemon=True)]
        for t in self.threads:
            t.start()

    def later(self, delay: float, action: Callable[[], None]) -> None:
        with self.lock:
            self.seq += 1
            heapq.heappush(self.heap, (time.monotonic() + delay, self.seq, action))
            self.lock.notify()

    def _run(self) -> None:
        while not self.stop.is_set():
            with self.lock:
                while not self.heap or self.heap[0][0] > time.monotonic():
                    timeout = 0.2 if not self.heap else max(0.0, self.heap[0][0] - time.monotonic())
                    self.lock.wait(min(timeout, 0.2))
                    if self.stop.is_set():
                        return
                _, _, action = heapq.heappop(self.heap)
            try:
                action()
            except Exception as exc:  # noqa: BLE001 - an anomaly to report, not a crash
                self.anomalies[type(exc).__name__] += 1

    def _guard(self, what: str, action: Callable[[], None]) -> Callable[[], None]:
        def run() -> None:
            try:
                action()
            except Exception as exc:  # noqa: BLE001
                self.anomalies[f"{what}: {type(exc).__name__}"] += 1
        return run

    def bridge(self, call_id: str) -> None:
        """The dialplan Dialled the reserved operator; AMI reports the answer, then the end."""
        self.later(0.1, self._guard("connected", lambda: self.router.connected(call_id)))
        self.later(0.1 + self.rng.uniform(1.0, 3.0), self._guard("ended", lambda: self.router.ended(call_id)))

    def _dial(self) -> None:
        while not self.stop.wait(0.5):
            try:
                due = self.router.due_callbacks(50)
            except Exception as exc:  # noqa: BLE001 - Redis restarting: try again
                self.anomalies[f"due_callbacks: {type(exc).__name__}"] += 1
                continue
            for assignment in due:
                cid, cb = assignment.call_id, assignment.callback_id or ""
                self.dialled[cid] += 1

                def answered(cid: str = cid, cb: str = cb) -> None:
                    self.router.callback_result(cb, answered=True)
                    self.delivered.add(cid)

                self.later(0.3, self._guard("callback_result", answered))
                self.later(0.3 + self.rng.uniform(1.0, 3.0),
                           self._guard("ended", lambda cid=cid: self.router.ended(cid)))  # type: ignore[misc]

    def close(self) -> None:
        self.stop.set()
        with self.lock:
            self.lock.notify_all()
        for t in self.threads:
            t.join(5)


# -- one call: this process plays Asterisk ---------------------------------------------------------


@dataclass
class Call:
    n: int
    call_id: str
    kind: str  # operator, callback, hangup, wrong_inn, garbage
    caller: MenuCaller
    phone: str
    garbage_at: int | None = None
    engine: str = ""
    started: float = 0.0
    ended: float = 0.0
    outcome: str = ""
    detail: str = ""
    eof: bool = False
    fields: dict[str, Any] = field(default_factory=dict)


def plan_call(n: int, rng: random.Random) -> Call:
    inn = synthetic_inn(100_000 + n)
    phone = f"7999{n:07d}"
    roll = rng.random()
    topic = rng.choice(TOPICS)
    if roll < 0.10:
        caller, kind = MenuCaller(numbers=[inn], topic=topic, hang_up_at=rng.choice(HANG_UP_PROMPTS)), "hangup"
    elif roll < 0.15:
        caller, kind = MenuCaller(numbers=[inn], topic=topic, patience=60), "garbage"
    elif roll < 0.25:
        caller, kind = MenuCaller(numbers=[corrupt_checksum(inn), inn], topic=topic, patience=60), "wrong_inn"
    elif roll < 0.45 and topic != "7":  # special cases offer no callback
        caller, kind = MenuCaller(numbers=[inn], topic=topic, callback="own"), "callback"
    else:
        caller, kind = MenuCaller(numbers=[inn], topic=topic, patience=60), "operator"
    call = Call(n, f"soak.{n}", kind, caller, phone)
    if kind == "garbage":
        call.garbage_at = rng.randint(3, 14)
    return call


def _delay(line: str, reply: list[str]) -> float:
    result = re.match(r"200 result=(-?\d+)", reply[0]) if reply else None
    pressed = result is not None and int(result.group(1)) > 0
    if line.startswith("STREAM FILE"):
        return KEY_S if pressed else PROMPT_S
    if line.startswith("WAIT FOR DIGIT"):
        ms = int(line.split()[3]) if len(line.split()) > 3 else 1000
        return KEY_S if pressed else min(ms / 1000, HOLD_S)
    if line.startswith("RECORD FILE"):
        return RECORD_S
    if line.startswith(("SAY DIGITS", "SAY NUMBER")):
        return SAY_S
    return 0.0


def run_call(call: Call, engines: list[EngineProcess], ops: Operators) -> None:
    call.started = time.monotonic()
    env = default_env(caller=call.phone, uniqueid=call.call_id)
    order = [engines[call.n % 2], engines[(call.n + 1) % 2]]  # hagi:// SRV: by turns, then the other
    sock = None
    for engine in order:
        try:
            sock = socket.create_connection(engine.fastagi, timeout=1.0)
            call.engine = engine.name
            break
        except OSError:
            continue
    if sock is None:
        call.outcome, call.ended = "engine unavailable", time.monotonic()
        return
    peer = AsteriskPeer(call.caller, env=env)  # type: ignore[arg-type]
    commands = 0
    try:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.settimeout(READ_TIMEOUT)
        sock.sendall(env_block(env))
        reader = sock.makefile("rb")
        while True:
            raw = reader.readline()
            if not raw:
                call.eof = True
                break
            commands += 1
            line = raw.decode("utf-8", "replace").rstrip("\r\n")
            if call.garbage_at == commands:
                sock.sendall(b"\x07garbage \xff not AGI\n")
                call.fields["garbage_sent"] = True
                continue
            reply = peer.reply(line)
            time.sleep(_delay(line, reply))
            sock.sendall("".join(f"{x}\n" for x in reply).encode())
            if time.monotonic() - call.started > MAX_CALL:
                call.detail = "stuck"
                break
    except (OSError, TimeoutError) as exc:
        call.eof = True
        call.detail = type(exc).__name__
    finally:
        sock.close()
        call.ended = time.monotonic()
    status = call.caller.variables.get("IVR_STATUS", "")
    if status == "connect":
        call.outcome = "connected"
        ops.bridge(call.call_id)
    elif status in ("handback", "busy"):
        call.outcome = "handed back"
    elif status == "transfer":
        call.outcome = "ended by the menu"
    elif call.caller.hung_up_by_caller:
        call.outcome = "abandoned by caller"
    elif call.caller.hung_up_by_engine and "callback.booked" in call.caller.heard:
        call.outcome = "callback booked"
    elif call.caller.hung_up_by_engine:
        call.outcome = "ended by the menu"
    elif call.fields.get("garbage_sent"):
        call.outcome = "protocol fault"
    else:
        call.outcome = "closed"  # decided against the kill windows at the end


# -- faults -------------------------------------------------------------------------------------------


JUNK = [b"\x00\xff\xfe garbage\r\n\r\n", b"GET / HTTP/1.1\r\nHost: x\r\n\r\n",
        b"agi_network: yes\n" * 3]


def garbage_connections(engines: list[EngineProcess], stop: threading.Event, counts: Counter[str]) -> None:
    """Every 5 s a connection that sends junk instead of an AGI environment, then listens:
    the engine must close it (within its env deadline, 10 s) and go on."""
    rng = random.Random(7)

    def one(engine: EngineProcess, junk: bytes) -> None:
        try:
            with socket.create_connection(engine.fastagi, timeout=1.0) as sock:
                sock.sendall(junk)
                sock.settimeout(15.0)
                while True:
                    try:
                        data = sock.recv(4096)
                    except TimeoutError:
                        counts["left open by the engine"] += 1
                        return
                    if not data:
                        counts["closed by the engine"] += 1
                        return
                    counts["answered with AGI commands"] += 1 if data.startswith(b"SET") else 0
        except OSError:
            counts["refused (engine down)"] += 1

    while not stop.wait(5.0):
        counts["sent"] += 1
        threading.Thread(target=one, args=(rng.choice(engines), rng.choice(JUNK)), daemon=True).start()


# -- the run ------------------------------------------------------------------------------------------


def rss_kib(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def duplicates(events: list[tuple[str, dict[str, str]]], ops: Operators) -> Counter[str]:
    found: Counter[str] = Counter()
    reserved: dict[str, bool] = {}
    answered: Counter[str] = Counter()
    for _eid, f in events:
        kind, cid = f.get("type"), f.get("call", "")
        if kind == "assigned":
            if reserved.get(cid):
                found["reserved while reserved"] += 1
            reserved[cid] = True
        elif kind in ("reservation_expired", "abandoned", "ended", "callback_no_answer", "callback_failed"):
            reserved[cid] = False
        elif kind == "answered":
            answered[cid] += 1
            if answered[cid] > 1:
                found["answered twice"] += 1
    found["callback dialled twice"] = sum(1 for n in ops.dialled.values() if n > 1)
    return +found


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=float, default=3.0, help="how long calls are offered")
    parser.add_argument("--rate", type=float, default=4.0, help="calls offered per second")
    parser.add_argument("--operators", type=int, default=12,
                        help="synthetic operators with every skill (the 4 of config.yaml too)")
    parser.add_argument("--lease", type=int, default=15, help="engine.instance_lease, seconds")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--json", action="store_true", help="print the figures as JSON too")
    parser.add_argument("--keep", action="store_true", help="keep the temp dir (engine logs)")
    args = parser.parse_args(argv)
    duration = args.minutes * 60
    rng = random.Random(args.seed)
    tmp = Path(tempfile.mkdtemp(prefix="ivr-soak-"))
    skills = {s: 4 for s in ("general", "special", "signin", "applications", "technical", "payments",
                             "esignature", "benefits")}
    operators = {f"op{500 + i}": {"name": f"Оператор {500 + i}", "skills": skills,
                                  "endpoint": f"PJSIP/op{500 + i}", "languages": ["ru", "en"]}
                 for i in range(args.operators)}
    config = write_config(tmp, prefix="soak", operators=operators,
                          routing={"wrap_up_seconds": 1, "reservation_seconds": 20},
                          engine={"drain_seconds": 5, "instance_lease": args.lease},
                          callback_offer="always")
    redis = RedisServer(appendonly=True).start()  # appendfsync always
    engines = [EngineProcess(name, config=config, redis_url=redis.url, directory=tmp) for name in ("A", "B")]
    starters = [threading.Thread(target=e.start) for e in engines]
    for t in starters:
        t.start()
    for t in starters:
        t.join()
    a, b = engines

    from ivr.config import load_config
    from routing.engine import Router
    from routing.redis_conn import connect

    cfg = load_config(config)
    router = Router(redis=connect(redis.url, embedded_dir=str(tmp / "unused")), queues=cfg.queues,
                    operators=cfg.operators, settings=cfg.routing, calendar=cfg.calendar,
                    prefix=cfg.redis.prefix)
    for op in cfg.operators:
        router.set_operator_state(op, "available")
    ops = Operators(router, random.Random(args.seed + 1))
    stop_garbage = threading.Event()
    garbage: Counter[str] = Counter()
    threading.Thread(target=garbage_connections, args=(engines, stop_garbage, garbage), daemon=True).start()

    memory: dict[str, Any] = {}
    kills: list[tuple[str, float, float, float]] = []  # engine, SIGKILL sent, seen dead, back
    faults: list[str] = []
    schedule = [(0.20 * duration, "redis"), (0.45 * duration, "kill B")]
    warm = min(20.0, 0.1 * duration)
    calls: list[Call] = []
    threads: list[threading.Thread] = []
    t0 = time.monotonic()
    print(f"soak: {args.minutes:g} min at {args.rate:g} calls/s into 2 engines, one redis-server "
          f"(AOF, fsync always), {len(cfg.operators)} operators; logs in {tmp}", flush=True)

    def fault(kind: str) -> None:
        at = time.monotonic() - t0
        if kind == "redis":
            redis.restart(kill=True, down_for=2.0)
            faults.append(f"{at:.0f}s redis-server SIGKILL, back after {time.monotonic() - t0 - at:.1f}s")
        else:
            memory["B before kill"] = b.rss_kib()
            killed = time.monotonic()
            b.kill()  # returns once the process is reaped
            dead = time.monotonic()
            time.sleep(3.0)
            b.start(wait=0)
            b.wait_ready(30)
            kills.append(("B", killed, dead, time.monotonic()))
            faults.append(f"{at:.0f}s engine B SIGKILL, ready again after {time.monotonic() - killed:.1f}s")
            memory["B after restart"] = b.rss_kib()

    samples: list[tuple[float, int, int, int]] = []  # seconds, A, B, redis RSS KiB
    n = 0
    while (elapsed := time.monotonic() - t0) < duration:
        if not samples or elapsed - samples[-1][0] >= 10.0:
            samples.append((elapsed, a.rss_kib(), b.rss_kib(), rss_kib(redis.proc.pid) if redis.proc else 0))
        if schedule and elapsed >= schedule[0][0]:
            threading.Thread(target=fault, args=(schedule.pop(0)[1],), daemon=True).start()
        if "A start" not in memory and elapsed >= warm:
            memory["A start"], memory["B start"] = a.rss_kib(), b.rss_kib()
            memory["redis start"] = rss_kib(redis.proc.pid) if redis.proc else 0
        if elapsed >= n / args.rate:
            call = plan_call(n, rng)
            calls.append(call)
            t = threading.Thread(target=run_call, args=(call, engines, ops), daemon=True)
            t.start()
            threads.append(t)
            n += 1
        time.sleep(0.005)
    stop_garbage.set()
    wind_down = time.monotonic() + 120
    for t in threads:
        t.join(max(0.1, wind_down - time.monotonic()))
    # The booked callbacks are dialled and the queues empty out (a dead engine's entries
    # are abandoned once its lease runs out); bounded.
    def states() -> Counter[str]:
        """Where each offered call stands in the routing engine now."""
        out: Counter[str] = Counter()
        for call in calls:
            state = router.status(call.call_id).state
            call.fields["final_state"] = state
            out[state] += 1
        return out

    while time.monotonic() < wind_down:
        now_states = states()
        if not now_states["waiting"] and not now_states["reserved"] and not now_states["callback"] \
                and not ops.heap:
            break
        time.sleep(1.0)
    time.sleep(1.0)
    memory["A end"], memory["B end"] = a.rss_kib(), b.rss_kib()
    memory["redis end"] = rss_kib(redis.proc.pid) if redis.proc else 0
    final = states()
    left_waiting = sum(1 for c in calls if c.fields["final_state"] in ("waiting", "reserved")
                       and c.outcome != "callback booked")
    callbacks_pending = sum(1 for c in calls if c.outcome == "callback booked"
                            and c.fields["final_state"] in ("callback", "reserved"))
    metrics = {name: e.metric("ivr_engine_calls_reaped_total") for name, e in (("A", a), ("B", b))}

    # -- classify the calls closed without a status, and the booked callbacks
    for call in calls:
        if call.outcome == "closed":
            # The call overlapped the kill: it was on B when the signal went, or connected while
            # B was dying (the kernel still queues connections on a dying listener, then resets
            # them), i.e. [started, ended] meets [SIGKILL sent, seen dead].
            window = [k for k in kills if k[0] == call.engine and call.started <= k[2]
                      and k[1] <= call.ended + 0.5]
            call.outcome = "cut by the kill" if window else "lost"
        if call.outcome == "callback booked":
            state = call.fields["final_state"]
            if call.call_id in ops.delivered:
                call.outcome = "callback delivered"
            elif state in ("callback", "reserved"):
                call.outcome = "callback pending at end"
            else:
                call.outcome, call.detail = "lost", f"booked callback in state {state}"
        if call.detail == "stuck":
            call.outcome = "lost"
    outcomes = Counter(c.outcome for c in calls)
    lost = outcomes["lost"] + left_waiting
    dups = duplicates(router.events(count=1_000_000), ops)
    logs = "".join(e.log.read_text(encoding="utf-8", errors="replace") for e in engines)
    personal = sum(1 for c in calls if c.phone in logs or (c.caller.numbers and c.caller.numbers[0] in logs))
    completed = outcomes["connected"] + outcomes["callback delivered"] + outcomes["ended by the menu"]
    figures: dict[str, Any] = {
        "minutes": args.minutes, "rate": args.rate, "operators": len(cfg.operators),
        "offered": len(calls), "completed": completed,
        "outcomes": dict(sorted(outcomes.items())),
        "abandoned_by_caller": outcomes["abandoned by caller"],
        "lost": lost, "left_in_queue": left_waiting, "callbacks_pending_at_end": callbacks_pending,
        "final_states": dict(final),
        "duplicated_assignments": sum(dups.values()), "duplicates": dict(dups),
        "reaped_by_survivors": metrics, "operator_anomalies": dict(ops.anomalies),
        "garbage_connections": dict(garbage), "faults": faults, "memory_kib": memory,
        "rss_series_kib": samples,
        "calls_in_progress_series": [
            (round(x[0]), sum(1 for c in calls if c.engine == "A" and c.started <= t0 + x[0] < c.ended),
             sum(1 for c in calls if c.engine == "B" and c.started <= t0 + x[0] < c.ended)) for x in samples],
        "active_calls_peak": max((sum(1 for c in calls if c.started <= t < (c.ended or t + 1))
                                  for t in [t0 + x[0] for x in samples]), default=0),
        "personal_data_in_engine_logs": personal,
        "lost_calls": [(c.call_id, c.kind, c.engine, c.detail) for c in calls if c.outcome == "lost"][:20],
        "left_calls": [(c.call_id, c.kind, c.engine, c.outcome, c.fields["final_state"],
                        round(c.started - t0, 1), round(c.ended - t0, 1))
                       for c in calls if c.fields["final_state"] in ("waiting", "reserved")
                       and c.outcome != "callback booked"][:20],
    }
    ops.close()
    for engine in engines:
        engine.stop()
    redis.close()
    report(figures)
    if args.json:
        print(json.dumps(figures, ensure_ascii=False))
    if not args.keep:
        import shutil

        shutil.rmtree(tmp, ignore_errors=True)
    return figures


def report(f: dict[str, Any]) -> None:
    print(f"\noffered {f['offered']}  completed {f['completed']}  abandoned by caller "
          f"{f['abandoned_by_caller']}  lost {f['lost']}  duplicated assignments {f['duplicated_assignments']}")
    for outcome, count in f["outcomes"].items():
        print(f"  {outcome:<26} {count:>6}")
    print(f"left waiting or reserved in a queue at the end (ghosts): {f['left_in_queue']}; callbacks "
          f"pending at the end: {f['callbacks_pending_at_end']}; routing states: {f['final_states']}")
    print(f"waiting calls of the killed engine abandoned by survivors: {f['reaped_by_survivors']}")
    print(f"garbage connections: {f['garbage_connections']}")
    print("faults: " + "; ".join(f["faults"]))
    m = f["memory_kib"]
    print("memory RSS MiB: " + ", ".join(f"{k} {v / 1024:.1f}" for k, v in m.items()))
    print("every 10 s: RSS MiB A/B/redis, calls in progress A/B: " + "  ".join(
        f"{t:.0f}s {ra / 1024:.1f}/{rb / 1024:.1f}/{rr / 1024:.1f} ({ca}/{cb})"
        for (t, ra, rb, rr), (_, ca, cb) in zip(f["rss_series_kib"], f["calls_in_progress_series"])))
    print(f"synthetic numbers found in the engines' logs: {f['personal_data_in_engine_logs']}")
    if f["operator_anomalies"]:
        print(f"operator/AMI side anomalies (retried or reported): {f['operator_anomalies']}")
    if f["lost_calls"]:
        print(f"lost: {f['lost_calls']}")
    if f["left_calls"]:
        print(f"left in a queue (call, kind, engine, outcome, state, start s, end s): {f['left_calls']}")


if __name__ == "__main__":
    main()
