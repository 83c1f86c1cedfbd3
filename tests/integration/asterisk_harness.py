"""Run a real Asterisk (Debian sid) inside a cached chroot, for integration tests.

    harness = AsteriskHarness()            # chroot from $IVR_ASTERISK_ROOT or the default
    harness.ensure_chroot()                # runs scripts/asterisk-chroot.sh (cached)
    harness.start([BASE_CONF_DIR, my_dir]) # later dirs override earlier files
    harness.cli("core show version")
    with harness.ami() as ami: ...
    harness.stop()                         # kill Asterisk, umount proc; safe to repeat

Everything listens on 127.0.0.1 only (AMI 5038, SIP 5060): the chroot shares the
host's network namespace.  So one Asterisk runs on the machine at a time: ``start`` takes
the machine-wide lock :data:`TIER_LOCK` and ``stop`` gives it back; a second test run
waits for the first one's Asterisk to stop instead of taking over its ports.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import signal
import subprocess
import time
from pathlib import Path
from typing import ClassVar, Self

from ami_client import AmiClient

REPO_ROOT = Path(__file__).resolve().parents[2]
CHROOT_SCRIPT = REPO_ROOT / "scripts" / "asterisk-chroot.sh"
BASE_CONF_DIR = Path(__file__).resolve().parent / "asterisk_conf"
DEFAULT_ROOT = Path("/var/cache/ivr-asterisk/root")
AMI_USER = "ivr-test"
AMI_SECRET = "ivr-test-secret"
AMI_PORT = 5038
TIER_LOCK = Path("/run/lock/ivr-asterisk-tier.lock")
TIER_LOCK_WAIT = 1800.0  # seconds a run waits for another run's Asterisk to stop


class _ThisRun:
    """This test run's hold on TIER_LOCK: the descriptor, and the chroots whose Asterisk it
    covers.  A second Asterisk of the same run on another root (test_recording_spool_asterisk's
    overlay: no SIP, no AMI) shares it; flock() would have the run wait for itself."""

    fd: ClassVar[int | None] = None
    roots: ClassVar[list[Path]] = []


class AsteriskHarnessError(RuntimeError):
    pass


class AsteriskHarness:
    def __init__(self, root: Path | None = None) -> None:
        self.root = root or Path(os.environ.get("IVR_ASTERISK_ROOT", DEFAULT_ROOT))
        self.process: subprocess.Popen[bytes] | None = None
        self.console_log = self.root / "var/log/asterisk/harness-console.log"
        self.full_log = self.root / "var/log/asterisk/full"
        self._full_log_start = 0  # where this boot's lines begin in full_log
        self.timings: dict[str, float] = {}
        self._tier_lock: int | None = None  # the lock's descriptor while Asterisk may run
        self._held = False  # taken by hold_machine(): kept across stop() until release_machine()

    # -- one Asterisk on the machine -------------------------------------------
    def _take_tier_lock(self) -> None:
        if self._tier_lock is not None:
            return
        if _ThisRun.fd is not None:  # this run holds the machine already
            # Another harness of this run on the same root (the guide's journey after the
            # tier's session Asterisk) takes that Asterisk over, as it always did: stop()
            # kills whatever runs from its root.
            _ThisRun.roots.append(self.root)
            self._tier_lock = _ThisRun.fd
            return
        TIER_LOCK.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(TIER_LOCK, os.O_RDWR | os.O_CREAT, 0o644)
        deadline = time.monotonic() + TIER_LOCK_WAIT
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    os.close(fd)
                    raise AsteriskHarnessError(
                        f"another test run's Asterisk held {TIER_LOCK} for {TIER_LOCK_WAIT:.0f} s")
                time.sleep(0.5)
        self._tier_lock = _ThisRun.fd = fd
        _ThisRun.roots.append(self.root)

    def hold_machine(self) -> None:
        """Take the machine's Asterisk lock for longer than one start..stop (a test that
        edits the chroot around its Asterisk); give it back with :meth:`release_machine`."""
        self._take_tier_lock()
        self._held = True

    def release_machine(self) -> None:
        self._held = False
        self._give_tier_lock()

    def _give_tier_lock(self) -> None:
        if self._held:
            return
        fd, self._tier_lock = self._tier_lock, None
        if fd is None:
            return
        if self.root in _ThisRun.roots:
            _ThisRun.roots.remove(self.root)
        if not _ThisRun.roots:
            _ThisRun.fd = None
            os.close(fd)  # closing the descriptor releases the flock

    # -- chroot ------------------------------------------------------------
    def ensure_chroot(self) -> None:
        if os.geteuid() != 0:
            raise AsteriskHarnessError("the real-Asterisk tier needs root (chroot, mount)")
        t0 = time.monotonic()
        env = {**os.environ, "IVR_ASTERISK_ROOT": str(self.root)}
        result = subprocess.run(
            [str(CHROOT_SCRIPT), "ensure"], env=env, capture_output=True, text=True, check=False
        )
        self.timings["ensure_chroot"] = time.monotonic() - t0
        if result.returncode != 0:
            raise AsteriskHarnessError(
                f"{CHROOT_SCRIPT} failed (rc={result.returncode}):\n"
                f"{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
            )

    def _proc_mounted(self) -> bool:
        target = str(self.root / "proc")
        with open("/proc/mounts", encoding="utf-8") as mounts:
            return any(line.split()[1] == target for line in mounts)

    def _chroot(self, *argv: str, timeout: float = 30.0) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["chroot", str(self.root), *argv], capture_output=True, text=True, timeout=timeout, check=False
        )

    # -- configuration -------------------------------------------------------
    def install_config(self, conf_dirs: list[Path]) -> None:
        """Replace the chroot's /etc/asterisk with the union of conf_dirs (later wins)."""
        etc = self.root / "etc/asterisk"
        if etc.exists():
            shutil.rmtree(etc)
        etc.mkdir(parents=True)
        for conf_dir in conf_dirs:
            if not conf_dir.is_dir():
                raise AsteriskHarnessError(f"no such Asterisk config dir: {conf_dir}")
            shutil.copytree(conf_dir, etc, dirs_exist_ok=True)

    # -- lifecycle -------------------------------------------------------------
    def restore_package_config(self) -> None:
        """/etc/asterisk as Debian's package installed it (kept by the chroot's recipe)."""
        etc, package = self.root / "etc/asterisk", self.root / "etc/asterisk.debian"
        if not package.is_dir():
            raise AsteriskHarnessError(f"no {package}: rebuild the chroot ({CHROOT_SCRIPT} clean)")
        if etc.exists():
            shutil.rmtree(etc)
        copied = self._chroot("cp", "-a", "/etc/asterisk.debian", "/etc/asterisk")  # owners too: asterisk
        if copied.returncode != 0:
            raise AsteriskHarnessError(f"could not restore /etc/asterisk: {copied.stderr}")

    def run(self, *argv: str, timeout: float = 60.0) -> subprocess.CompletedProcess[str]:
        """A command inside the chroot, as root (an administrator's shell on that host)."""
        return self._chroot(*argv, timeout=timeout)

    def start(self, conf_dirs: list[Path] | None = None, boot_timeout: float = 30.0, *,
              installed: bool = False, user: str | None = None, umask: int | None = None) -> None:
        """Boot Asterisk.  ``installed``: with the /etc/asterisk already in the chroot (put
        there by an installer), not ``conf_dirs``.  ``user``/``umask``: as Debian's
        asterisk.service runs it (``-U asterisk -G asterisk``, systemd's UMask)."""
        self._take_tier_lock()
        self._kill_stale()
        if not installed:
            self.install_config(conf_dirs if conf_dirs is not None else [BASE_CONF_DIR])
        t0 = time.monotonic()
        if not self._proc_mounted():
            subprocess.run(["mount", "-t", "proc", "proc", str(self.root / "proc")], check=True)
        # Inside the chroot: its /var/run is a symbolic link to /run (the chroot's, not the host's).
        self._chroot("mkdir", "-p", "/var/run/asterisk", "/var/log/asterisk", "/var/spool/asterisk/monitor")
        if user is not None:
            self._chroot("chown", f"{user}:", "/var/run/asterisk", "/var/log/asterisk")
        self.console_log.parent.mkdir(parents=True, exist_ok=True)
        self._full_log_start = self.full_log.stat().st_size if self.full_log.exists() else 0
        argv = ["chroot", str(self.root), "/usr/sbin/asterisk", "-f", "-vvv", "-C", "/etc/asterisk/asterisk.conf"]
        if user is not None:
            argv += ["-U", user, "-G", user]
        with open(self.console_log, "wb") as log:
            self.process = subprocess.Popen(
                argv, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                start_new_session=True, umask=-1 if umask is None else umask,
            )
        try:
            self._wait_booted(boot_timeout)
        except BaseException:
            self.stop()
            raise
        self.timings["start"] = time.monotonic() - t0

    def _wait_booted(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process is not None and self.process.poll() is not None:
                raise AsteriskHarnessError(
                    f"asterisk exited with {self.process.returncode} during boot:\n"
                    + self.tail_logs()
                )
            try:
                result = self._chroot("/usr/sbin/asterisk", "-rx", "core waitfullybooted",
                                      timeout=max(1.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                break
            if result.returncode == 0 and "fully booted" in result.stdout:
                return
            time.sleep(0.2)
        raise AsteriskHarnessError(f"asterisk not fully booted after {timeout} s:\n"
                                   + self.tail_logs())

    def stop(self, timeout: float = 10.0) -> None:
        """Stop Asterisk and unmount proc.  Idempotent; never raises on a dead Asterisk."""
        proc, self.process = self.process, None
        if proc is not None and proc.poll() is None:
            try:
                self._chroot("/usr/sbin/asterisk", "-rx", "core stop now", timeout=5.0)
            except subprocess.TimeoutExpired:
                pass
            try:
                proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=5.0)
        self._kill_stale()
        if self._proc_mounted():
            subprocess.run(["umount", str(self.root / "proc")], check=False)
            if self._proc_mounted():
                subprocess.run(["umount", "-l", str(self.root / "proc")], check=False)
        self._give_tier_lock()

    def _kill_stale(self) -> None:
        """Kill asterisk processes whose root is our chroot (left by a crashed run)."""
        for pid in _pids_rooted_at(self.root, "asterisk"):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        deadline = time.monotonic() + 5.0
        while _pids_rooted_at(self.root, "asterisk") and time.monotonic() < deadline:
            time.sleep(0.05)

    # -- interaction -------------------------------------------------------------
    def cli(self, command: str, timeout: float = 15.0) -> str:
        result = self._chroot("/usr/sbin/asterisk", "-rx", command, timeout=timeout)
        if result.returncode != 0:
            raise AsteriskHarnessError(f"CLI {command!r} failed: {result.stderr.strip()}")
        return result.stdout

    def ami(self) -> AmiClient:
        client = AmiClient(port=AMI_PORT)
        try:
            client.login(AMI_USER, AMI_SECRET)
        except BaseException:
            client.close()
            raise
        return client

    def version(self) -> str:
        return self.cli("core show version").strip()

    def boot_log(self) -> list[str]:
        """The lines logger.conf's ``full`` log got since this Asterisk started."""
        if not self.full_log.exists():
            return []
        with open(self.full_log, "rb") as full:
            full.seek(self._full_log_start)
            return full.read().decode("utf-8", "replace").splitlines()

    def tail_logs(self, lines: int = 40) -> str:
        out = []
        for path in (self.console_log, self.root / "var/log/asterisk/full"):
            if path.exists():
                text = path.read_text(errors="replace").splitlines()[-lines:]
                out.append(f"--- {path} ---\n" + "\n".join(text))
        return "\n".join(out)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _pids_rooted_at(root: Path, name: str) -> list[int]:
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if (entry / "comm").read_text().strip() != name:
                continue
            if Path(os.readlink(entry / "root")) == root:
                pids.append(int(entry.name))
        except OSError:
            continue
    return pids
