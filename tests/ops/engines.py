"""Engine processes on loopback for the scale-out tests and ``bench/soak.py``.

``write_config``: the shipped ``config.yaml`` with absolute paths to the shipped menus
and prompts, writable paths in a temp dir, every queue open round the clock (the tests
must not depend on Moscow's hour), optional extra operators and routing settings.

:class:`EngineProcess`: ``ivr serve`` in a child process (``python -m ivr.cli``) on
given FastAGI, HTTP and operational (``--ops-http``) ports, its JSON log in a file;
``start``/``wait_ready``, ``stop`` (SIGTERM: drain), ``kill`` (SIGKILL), memory,
``/metrics`` and ``/queues`` (from the operational port).
"""

from __future__ import annotations

import base64
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from tests.ports import free_port

ROOT = Path(__file__).resolve().parents[2]
RECORDING_KEY = "k1:" + base64.b64encode(bytes(range(32))).decode()


def write_config(
    directory: Path,
    *,
    prefix: str = "ivr",
    operators: Mapping[str, Any] | None = None,
    routing: Mapping[str, Any] | None = None,
    engine: Mapping[str, Any] | None = None,
    callback_offer: str | None = None,
) -> Path:
    data = yaml.safe_load((ROOT / "config.yaml").read_text(encoding="utf-8"))
    directory.mkdir(parents=True, exist_ok=True)
    data["menus"]["dir"] = str(ROOT / "dialplans")
    data["prompts"]["dir"] = str(ROOT / "prompts")
    data["prompts"]["sounds_dir"] = str(directory / "sounds")
    data["calendar_file"] = str(ROOT / data["calendar_file"])
    data["redis"] = {"url": None, "prefix": prefix, "embedded_dir": str(directory / "redis")}
    data["recordings"].update(dir=str(directory / "rec"),
                              audit_log=str(directory / "audit" / "access.jsonl"),
                              deletion_log=str(directory / "audit" / "deleted.jsonl"))
    for queue in data["queues"].values():
        queue.pop("hours", None)  # round the clock
        if callback_offer and queue.get("callback", {}).get("offer") != "never":
            queue["callback"] = {**queue.get("callback", {}), "offer": callback_offer}
    if operators:
        data["operators"].update(operators)
    data["routing"].update(routing or {})
    data["engine"].update(engine or {})
    path = directory / "config.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return path


class EngineProcess:
    def __init__(self, name: str, *, config: Path, redis_url: str, directory: Path,
                 fastagi_port: int | None = None, http_port: int | None = None, ops_port: int | None = None,
                 env: Mapping[str, str] | None = None) -> None:
        self.name = name
        self.config = config
        self.redis_url = redis_url
        self.fastagi = ("127.0.0.1", fastagi_port or free_port())
        self.http = ("127.0.0.1", http_port or free_port())
        self.ops = ("127.0.0.1", ops_port or free_port())
        self.log = directory / f"engine-{name}.log"
        self.extra_env = dict(env or {})
        self.proc: subprocess.Popen[bytes] | None = None
        self.starts = 0

    @property
    def base(self) -> str:
        return f"http://{self.http[0]}:{self.http[1]}"

    def start(self, *, wait: float = 30.0) -> EngineProcess:
        env = {**os.environ, "REDIS_URL": self.redis_url, "IVR_RECORDING_KEY": RECORDING_KEY,
               "IVR_LOG_LEVEL": "INFO", **self.extra_env}
        cmd = [sys.executable, "-m", "ivr.cli", "--config", str(self.config), "serve",
               "--fastagi", f"{self.fastagi[0]}:{self.fastagi[1]}", "--http", f"{self.http[0]}:{self.http[1]}",
               "--ops-http", f"{self.ops[0]}:{self.ops[1]}"]
        with open(self.log, "ab") as out:
            self.proc = subprocess.Popen(cmd, stdout=out, stderr=out, env=env, cwd=ROOT)
        self.starts += 1
        if wait:
            self.wait_ready(wait)
        return self

    def get(self, path: str, timeout: float = 5.0, *, ops: bool = False) -> tuple[int, bytes]:
        """``path`` from the public port, or (``ops``) from the operational one."""
        base = f"http://{self.ops[0]}:{self.ops[1]}" if ops else self.base
        try:
            with urllib.request.urlopen(base + path, timeout=timeout) as reply:  # loopback only
                return reply.status, reply.read()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read()

    def json(self, path: str, *, ops: bool = False) -> Any:
        return json.loads(self.get(path, ops=ops)[1])

    def wait_ready(self, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc is not None and self.proc.poll() is not None:
                raise RuntimeError(f"engine {self.name} exited: {self.log.read_text()[-2000:]}")
            try:
                if self.get("/readyz", timeout=1.0)[0] == 200:
                    with socket.create_connection(self.fastagi, timeout=1.0):
                        return
            except OSError:
                pass
            time.sleep(0.05)
        raise RuntimeError(f"engine {self.name} not ready in {timeout} s: {self.log.read_text()[-2000:]}")

    def stop(self, timeout: float = 30.0) -> int | None:
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return self.proc.wait(10)
        finally:
            self.proc = None

    def kill(self) -> None:
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait(10)
            self.proc = None

    @property
    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def rss_kib(self) -> int:
        if self.proc is None:
            return 0
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
        return 0

    def metric(self, name: str, **labels: str) -> float:
        """One sample of this process's /metrics (0 when absent)."""
        from prometheus_client.parser import text_string_to_metric_families

        status, body = self.get("/metrics", ops=True)
        if status != 200:
            raise RuntimeError(f"/metrics: {status}")
        total = 0.0
        for family in text_string_to_metric_families(body.decode()):
            for s in family.samples:
                if s.name == name and all(s.labels.get(k) == v for k, v in labels.items()):
                    total += s.value
        return total
