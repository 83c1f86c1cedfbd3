"""Keep this machine's CPUs from halting when idle: one idle-class poller per CPU.

Why: on a virtual machine a vCPU with nothing to run is halted, and waking it is the
host's work.  A routing call waits 150-250 us for Redis's reply; its thread sleeps, its
vCPU goes idle and is halted, and the reply then waits for the host to run the vCPU
again.  That wake-up, not the script, is the tail of the assignment latency here (see
``bench/wake_tail.py`` and docs/scale-out.md, "Keeping the CPUs awake").  Kernels fix it
with the ``cpuidle-haltpoll`` driver, ``idle=poll`` or a held ``/dev/cpu_dma_latency``;
a guest without a cpuidle driver (``/sys/devices/system/cpu/cpuidle/current_driver``
says ``none``, as in Firecracker guests) has none of them, and its kernel may not be
ours to change.

How: one process per CPU, pinned to it, in the ``SCHED_IDLE`` class, spinning.  The
kernel runs an idle-class task only when nothing else wants the CPU and preempts it at
once for any other task that wakes, so the engine and Redis lose nothing to it (weight 3
against a normal task's 1,024); but the CPU never goes idle, so it is never halted, and
a woken thread runs without the host's help.  The cost is what ``idle=poll`` costs: the
host sees the vCPUs always busy.

Run it as its own service (``ivr keep-awake``, deploy/systemd/ivr-keep-awake.service) on
the hosts of the engine and of Redis.  It does not mix with
``routing.reply_busy_poll_us``: a watcher's ``sched_yield`` hands its CPU to the poller
for a whole slice.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Self

log = logging.getLogger(__name__)

SPIN = 200_000  # loop turns between two looks at the parent (about 5 ms of Python)


class KeepAwakeError(Exception):
    """The pollers cannot run as asked: a bad CPU list, or a CPU this process may not use."""


def cpus_to_poll(asked: Iterable[int] | None = None) -> list[int]:
    """The CPUs to keep awake: ``asked`` (each must be one this process may run on), or all."""
    allowed = os.sched_getaffinity(0)
    if asked is None:
        return sorted(allowed)
    cpus = sorted(set(asked))
    outside = [c for c in cpus if c not in allowed]
    if outside or not cpus:
        raise KeepAwakeError(
            f"CPUs {outside or cpus} are not among the CPUs this process may use "
            f"({','.join(map(str, sorted(allowed)))})"
        )
    return cpus


def parse_cpus(text: str) -> list[int]:
    """``"0,2-3"`` -> [0, 2, 3] (the notation of taskset and systemd's CPUAffinity)."""
    cpus: list[int] = []
    for part in text.split(","):
        lo, _, hi = part.strip().partition("-")
        try:
            first, last = int(lo), int(hi or lo)
        except ValueError:
            raise KeepAwakeError(f"not a CPU list: {text!r} (e.g. 0,2-3)") from None
        if first < 0 or last < first:
            raise KeepAwakeError(f"not a CPU list: {text!r} (e.g. 0,2-3)")
        cpus.extend(range(first, last + 1))
    return cpus


def poll(cpu: int, parent: int) -> None:
    """The poller itself (in its own process): idle class, on ``cpu``, spinning until its
    parent (pid ``parent``, passed in: it may be gone before we get here) is gone."""
    os.sched_setscheduler(0, os.SCHED_IDLE, os.sched_param(0))
    os.sched_setaffinity(0, {cpu})
    # a terminal's ^C goes to the parent, which stops us
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    while os.getppid() == parent:
        for _ in range(SPIN):
            pass


@dataclass
class Pollers:
    """One poller process per CPU; a context manager.  ``stop()`` ends them all."""

    cpus: Sequence[int]
    processes: dict[int, subprocess.Popen[bytes]] = field(default_factory=dict)

    def start(self) -> Self:
        for cpu in self.cpus:
            self.processes[cpu] = subprocess.Popen(
                [sys.executable, "-m", "ivr.ops.keep_awake", str(cpu), str(os.getpid())],
                stdin=subprocess.DEVNULL,
            )
        return self

    def stop(self) -> None:
        for process in self.processes.values():
            if process.poll() is None:
                process.terminate()
        for process in self.processes.values():
            try:
                process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        self.processes.clear()

    def exited(self) -> dict[int, int]:
        """CPU -> exit status of each poller that has ended."""
        return {cpu: code for cpu, p in self.processes.items() if (code := p.poll()) is not None}

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()


def keep_awake(pollers: Pollers, stop: threading.Event, check_every: float = 1.0) -> int:
    """Run ``pollers`` until ``stop`` is set (0) or one of them dies (1, for a restart)."""
    cpus = ",".join(map(str, pollers.cpus))
    with pollers:
        log.info("keeping CPUs %s awake: one idle-class poller each", cpus)
        while not stop.wait(check_every):
            dead = pollers.exited()
            if dead:
                log.error(
                    "keep-awake: the poller of CPU(s) %s exited (%s); stopping the others",
                    ",".join(map(str, dead)),
                    ", ".join(f"status {c}" for c in dead.values()),
                )
                return 1
    log.info("keep-awake stopped")
    return 0


if __name__ == "__main__":
    poll(int(sys.argv[1]), int(sys.argv[2]))
