"""``ivr keep-awake``: one idle-class poller per CPU that gives way to any real work."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from ivr.ops.keep_awake import KeepAwakeError, Pollers, cpus_to_poll, keep_awake, parse_cpus

ROOT = Path(__file__).resolve().parents[2]
BUSY = "import os\nos.sched_setaffinity(0, {%d})\nwhile True: pass"


def eventually(what: str, check: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)


def stat(pid: int) -> list[str]:
    """/proc/<pid>/stat from field 3 (state) on: what follows the command name."""
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()


def cpu_ticks(pid: int) -> int:
    """utime + stime of a process, in clock ticks (/proc/<pid>/stat fields 14 and 15)."""
    fields = stat(pid)
    return int(fields[11]) + int(fields[12])


def alive(pid: int) -> bool:
    try:
        return stat(pid)[0] != "Z"
    except FileNotFoundError:
        return False


def children(pid: int) -> list[int]:
    """The processes ``pid``'s main thread started (/proc/<pid>/task/<pid>/children)."""
    return [int(x) for x in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]


def settled(pollers: Pollers) -> None:
    """Wait until every poller has made itself idle-class and pinned."""
    for cpu, process in pollers.processes.items():
        eventually(
            f"the poller of CPU {cpu} to settle",
            lambda p=process, c=cpu: (
                os.sched_getscheduler(p.pid) == os.SCHED_IDLE and os.sched_getaffinity(p.pid) == {c}
            ),
        )


@pytest.fixture
def pollers() -> Iterator[Pollers]:
    with Pollers(cpus_to_poll()) as running:
        settled(running)
        yield running


def test_one_idle_class_poller_pinned_to_each_cpu(pollers: Pollers) -> None:
    assert sorted(pollers.processes) == sorted(os.sched_getaffinity(0))
    for cpu, process in pollers.processes.items():
        assert os.sched_getscheduler(process.pid) == os.SCHED_IDLE
        assert os.sched_getaffinity(process.pid) == {cpu}
        assert process.poll() is None
    pids = [p.pid for p in pollers.processes.values()]
    pollers.stop()
    assert not any(alive(pid) for pid in pids)


def test_a_poller_gives_its_cpu_to_a_normal_task() -> None:
    """Both spin on CPU 0; the kernel runs the idle-class one only when the other does not
    want the CPU.  Two normal tasks would share it about half and half."""
    busy = subprocess.Popen([sys.executable, "-c", BUSY % 0])
    try:
        with Pollers([0]) as running:
            settled(running)
            eventually("the busy task to be pinned", lambda: os.sched_getaffinity(busy.pid) == {0})
            poller = running.processes[0].pid
            before = cpu_ticks(busy.pid), cpu_ticks(poller)
            time.sleep(1.5)
            busy_ticks, poller_ticks = (
                cpu_ticks(busy.pid) - before[0],
                cpu_ticks(poller) - before[1],
            )
    finally:
        busy.kill()
        busy.wait()
    assert busy_ticks > 0
    assert poller_ticks <= 0.05 * busy_ticks, (busy_ticks, poller_ticks)


def test_pollers_end_when_their_parent_is_killed() -> None:
    parent = subprocess.Popen(
        [sys.executable, "-m", "ivr.cli", "keep-awake", "--cpus", "0", "--log-format", "text"],
        cwd=ROOT,
        stderr=subprocess.PIPE,
    )
    try:
        eventually("the poller to start", lambda: len(children(parent.pid)) == 1)
        [poller] = children(parent.pid)
        parent.kill()  # no chance to stop it: SIGKILL
        parent.wait()
        eventually("the orphaned poller to notice and exit", lambda: not alive(poller), timeout=5)
    finally:
        if parent.poll() is None:
            parent.kill()
            parent.wait()


def test_keep_awake_stops_the_rest_and_fails_when_a_poller_dies() -> None:
    """A dead poller is a CPU that halts again: exit 1 so that systemd restarts the service."""
    stop = threading.Event()
    result: list[int] = []
    running = Pollers(cpus_to_poll())
    runner = threading.Thread(
        target=lambda: result.append(keep_awake(running, stop, check_every=0.05))
    )
    runner.start()
    eventually("the pollers to start", lambda: len(running.processes) == len(set(running.cpus)))
    settled(running)
    others = [p.pid for p in running.processes.values()][1:]
    next(iter(running.processes.values())).send_signal(signal.SIGKILL)
    runner.join(timeout=10)
    assert result == [1]
    assert not running.processes and not any(alive(pid) for pid in others)
    stop.set()


def test_keep_awake_returns_0_when_asked_to_stop() -> None:
    stop = threading.Event()
    result: list[int] = []
    runner = threading.Thread(
        target=lambda: result.append(keep_awake(Pollers([0]), stop, check_every=0.05))
    )
    runner.start()
    time.sleep(0.3)
    stop.set()
    runner.join(timeout=10)
    assert result == [0]


def test_the_command_stops_its_pollers_on_sigterm_and_refuses_a_cpu_it_cannot_use() -> None:
    command = [sys.executable, "-m", "ivr.cli", "keep-awake", "--log-format", "text"]
    refused = subprocess.run(
        [*command, "--cpus", "4096"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert refused.returncode == 2 and "not among the CPUs" in refused.stderr
    running = subprocess.Popen(command, cwd=ROOT, stderr=subprocess.PIPE, text=True)
    eventually(
        "the pollers to start",
        lambda: len(children(running.pid)) == len(os.sched_getaffinity(0)),
    )
    pids = children(running.pid)
    running.send_signal(signal.SIGTERM)
    _, err = running.communicate(timeout=20)
    assert running.returncode == 0, err
    assert "keeping CPUs" in err and "keep-awake stopped" in err
    assert not any(alive(pid) for pid in pids)


def test_cpu_lists() -> None:
    assert parse_cpus("0") == [0]
    assert parse_cpus("0,2-3") == [0, 2, 3]
    for bad in ("", "a", "3-1", "-1", "1,,2"):
        with pytest.raises(KeepAwakeError):
            parse_cpus(bad)
    with pytest.raises(KeepAwakeError):
        cpus_to_poll([])
