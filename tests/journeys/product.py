"""The product as a user meets it: a fresh copy of the repository, the README's commands.

A journey starts ``ivr serve`` the way the README's first command does (from the copy's
directory, its own ``config.yaml``, embedded Redis, no AMI, no Twilio, no secrets in the
environment), on free loopback ports, and then acts as people do: other ``ivr`` commands
in separate processes beside it, the terminal softphone ``ivr call`` through a
pseudo-terminal (pexpect), HTTP clients and the console in real Chromium.  Nothing here
reaches into the engine's objects: what a test asserts is what a person sees or hears.

The copy holds the repository's files as they are in the working tree (tracked and new,
not ignored): what a fresh clone of this commit would hold.  The ``ivr`` program is the one
installed in the test run's virtual environment, as the README's ``.venv/bin/ivr``.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from requests.structures import CaseInsensitiveDict

from tests.ports import free_port

ROOT = Path(__file__).resolve().parents[2]
IVR = str(Path(sys.executable).with_name("ivr"))
# What a newcomer's shell does not have: the environment of the machine, less anything
# that would change the README's defaults.
DEFAULT_OPS_PORT = 9108  # engine.ops_http in the shipped config.yaml (loopback)
_NOT_A_NEWCOMERS = re.compile(r"^(IVR_|REDIS_URL|TWILIO_|VOSK_MODEL_PATH)")


def newcomer_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not _NOT_A_NEWCOMERS.match(k)}
    env.update(extra)
    return env


def fresh_copy(target: Path) -> Path:
    """The repository's files (tracked and untracked, not ignored) copied under ``target``."""
    listed = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
                            cwd=ROOT, check=True, capture_output=True).stdout.decode()
    for name in filter(None, listed.split("\0")):
        source = ROOT / name
        if not source.is_file():  # deleted in the working tree
            continue
        destination = target / name
        destination.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source, destination)
    return target


def until(condition: Any, timeout: float, *, every: float = 0.1, what: str = "condition") -> Any:
    """Poll ``condition()`` until it returns something truthy; fail after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} did not happen within {timeout} s")
        time.sleep(every)


@dataclass
class Reply:
    status: int
    body: bytes
    headers: dict[str, str]

    def json(self) -> Any:
        return json.loads(self.body)

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", "replace")


@dataclass
class Product:
    """A fresh copy of the repository, where a user runs the README's commands."""

    root: Path
    runs: list[Serving] = field(default_factory=list)

    def ivr(self, *args: str, input: str | None = None, timeout: float = 60,
            env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
        """``.venv/bin/ivr ARGS`` run to its end in the copy's directory, as a user types it."""
        return subprocess.run([IVR, *args], check=False, cwd=self.root, input=input, text=True, capture_output=True,
                              timeout=timeout, env=env or newcomer_env())

    def serve(self, *args: str, env: dict[str, str] | None = None, ready_timeout: float = 60,
              terminal: bool = False, fastagi: int | None = None, ops_default: bool = False) -> Serving:
        """The README's first command (``ivr serve``) on free loopback ports (``fastagi``: on
        this one, e.g. the port Asterisk's IVR_AGI names; the operational listener too, unless
        ``ops_default``: on config.yaml's, as the README's command); waits until its HTTP port
        answers ``/healthz``.  ``terminal``: its output goes to a pseudo-terminal, as in a
        person's shell (copied to the log file as it comes)."""
        fastagi, http = fastagi or free_port(), free_port()
        ops = DEFAULT_OPS_PORT if ops_default else free_port()
        log = self.root / f"serve-{len(self.runs)}.log"
        command = [IVR, "serve", "--fastagi", f"127.0.0.1:{fastagi}", "--http", f"127.0.0.1:{http}",
                   *([] if ops_default else ["--ops-http", f"127.0.0.1:{ops}"]), *args]
        if terminal:
            process = _in_a_terminal(command, cwd=self.root, env=env or newcomer_env(), log=log)
        else:
            with open(log, "wb") as out:
                process = subprocess.Popen(command, cwd=self.root, stdout=out, stderr=subprocess.STDOUT,
                                           env=env or newcomer_env(), start_new_session=True)
        serving = Serving(product=self, process=process, fastagi=fastagi, http=http, ops=ops, log_path=log)
        self.runs.append(serving)
        until(lambda: serving.alive_and_answering(), ready_timeout, every=0.2,
              what=f"ivr serve answering /healthz (log: {serving.log()[-2000:]})")
        return serving

    def call(self, serving: Serving, *args: str, timeout: float = 30) -> Any:
        """``ivr call`` to the running engine, in a pseudo-terminal (a pexpect child; poll(),
        not select(), so that it works in a test holding over 1,024 sockets)."""
        import pexpect

        return pexpect.spawn(IVR, ["call", "--fastagi", f"127.0.0.1:{serving.fastagi}", *args],
                             cwd=str(self.root), env=newcomer_env(), encoding="utf-8",
                             timeout=timeout, dimensions=(50, 200), use_poll=True)

    def close(self) -> None:
        for serving in self.runs:
            serving.kill()


@dataclass
class Serving:
    """One ``ivr serve`` process of a :class:`Product`."""

    product: Product
    process: subprocess.Popen[bytes]
    fastagi: int
    http: int
    ops: int  # the operational listener: /metrics, /queues
    log_path: Path

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.http}"

    def log(self) -> str:
        return self.log_path.read_text("utf-8", "replace")

    def alive_and_answering(self) -> bool:
        if self.process.poll() is not None:
            raise AssertionError(f"ivr serve exited with {self.process.returncode}:\n{self.log()[-4000:]}")
        with contextlib.suppress(OSError):
            return self.get("/healthz", timeout=2).status == 200
        return False

    def request(self, method: str, path: str, *, data: bytes | None = None, timeout: float = 10,
                headers: dict[str, str] | None = None, port: int | None = None) -> Reply:
        base = self.base_url if port is None else f"http://127.0.0.1:{port}"
        req = urllib.request.Request(base + path, data=data, method=method, headers=headers or {})
        try:
            with urllib.request.urlopen(req, timeout=timeout) as reply:
                return Reply(reply.status, reply.read(), CaseInsensitiveDict(reply.headers.items()))
        except urllib.error.HTTPError as error:
            return Reply(error.code, error.read(), CaseInsensitiveDict(error.headers.items()))

    def get(self, path: str, *, timeout: float = 10) -> Reply:
        return self.request("GET", path, timeout=timeout)

    def ops_get(self, path: str, *, timeout: float = 10, headers: dict[str, str] | None = None) -> Reply:
        """``path`` from the operational listener (``/metrics``, ``/queues``), as Prometheus
        or the person on call reads it."""
        return self.request("GET", path, timeout=timeout, headers=headers, port=self.ops)

    def wait_log(self, pattern: str, timeout: float = 30) -> re.Match[str]:
        """The first match of ``pattern`` in the engine's output, waiting for it to appear."""
        found: re.Match[str] | None = until(lambda: re.search(pattern, self.log()), timeout,
                                            what=f"log line matching {pattern!r}")
        assert found is not None
        return found

    def stop(self, timeout: float = 60) -> float:
        """SIGTERM, as systemd or Ctrl-C does; the seconds it took to exit."""
        started = time.monotonic()
        self.process.send_signal(signal.SIGTERM)
        self.process.wait(timeout)
        return time.monotonic() - started

    def kill(self) -> None:
        if self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(10)
        _reap_embedded_redis(self.product.root)


def _in_a_terminal(command: list[str], *, cwd: Path, env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    """``command`` with a pseudo-terminal as its stdin, stdout and stderr; what it writes is
    copied to ``log`` by a thread until the terminal closes."""
    import pty
    import threading

    master, slave = pty.openpty()
    process = subprocess.Popen(command, cwd=cwd, stdin=slave, stdout=slave, stderr=slave, env=env,
                               start_new_session=True)
    os.close(slave)

    out = open(log, "wb")  # noqa: SIM115 - closed by the thread that copies into it

    def copy() -> None:
        with out:
            while True:
                try:
                    chunk = os.read(master, 65536)
                except OSError:  # EIO: every writer closed the terminal
                    break
                if not chunk:
                    break
                out.write(chunk)
                out.flush()
        os.close(master)

    threading.Thread(target=copy, name="serve-terminal", daemon=True).start()
    return process


def _reap_embedded_redis(root: Path) -> None:
    """A journey that failed half-way must not leave a Redis server of its copy running."""
    import psutil

    var = str(root / "var")
    for process in psutil.process_iter(["name", "cmdline", "cwd"]):
        with contextlib.suppress(psutil.Error):
            info = process.info
            text = " ".join(info.get("cmdline") or []) + " " + (info.get("cwd") or "")
            if "redis" in (info.get("name") or "") and var in text:
                process.kill()


def http_log_in(serving: Serving, name: str, password: str) -> Any:
    """``POST /login`` as a browser sends it (the form's CSRF token, the session cookie);
    the ``requests`` reply, not followed (302 to the user's page when it worked)."""
    import requests

    browser = requests.Session()
    page = browser.get(serving.base_url + "/login", timeout=10)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert token is not None, page.text[:500]
    return browser.post(serving.base_url + "/login", timeout=10, allow_redirects=False,
                        data={"username": name, "password": password, "csrf_token": token[1]})


def http_session(serving: Serving, name: str, password: str) -> Any:
    """A ``requests`` session logged in as ``name``, as a browser logs in."""
    import requests

    browser = requests.Session()
    page = browser.get(serving.base_url + "/login", timeout=10)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert token is not None, page.text[:500]
    done = browser.post(serving.base_url + "/login", timeout=10, allow_redirects=False,
                        data={"username": name, "password": password, "csrf_token": token[1]})
    assert done.status_code in (302, 303), done.text[:500]
    return browser


def auditor_session(serving: Serving, password: str, *, name: str = "auditor") -> tuple[Any, str]:
    """An auditor logged in as a browser logs in: a ``requests`` session and the CSRF token
    of the recordings page (what auditor.js sends with each request)."""
    browser = http_session(serving, name, password)
    desk = browser.get(serving.base_url + "/auditor/recordings", timeout=10)
    assert desk.url.endswith("/auditor/recordings"), desk.url
    csrf = re.search(r'<meta name="csrf-token" content="([^"]+)"', desk.text)
    assert csrf is not None, desk.text[:500]
    return browser, csrf[1]


def listen(serving: Serving, browser: Any, csrf: str, rid: str, reason: str) -> Any:
    """What auditor.js does on "Слушать": ask for a one-time link with a reason, fetch it."""
    grant = browser.post(f"{serving.base_url}/auditor/api/recordings/{rid}/access", timeout=10,
                         json={"action": "listen", "reason": reason}, headers={"X-CSRF-Token": csrf})
    assert grant.status_code == 200, grant.text
    return browser.get(serving.base_url + grant.json()["url"], timeout=30)


def lines_of(text: str) -> Sequence[str]:
    return [line for line in text.splitlines() if line.strip()]


@contextlib.contextmanager
def product_in(tmp: Path) -> Iterator[Product]:
    product = Product(root=fresh_copy(tmp / "hotline"))
    try:
        yield product
    finally:
        product.close()
