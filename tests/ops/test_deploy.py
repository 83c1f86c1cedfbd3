"""The shipped systemd units and Redis settings are what docs/scale-out.md says."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
UNITS = ROOT / "deploy" / "systemd"


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="no systemd-analyze here")
def test_systemd_accepts_the_units(tmp_path: Path) -> None:
    venv_bin = str(Path(sys.executable).parent) + "/"
    for unit in UNITS.iterdir():
        text = unit.read_text().replace("/opt/ivr/.venv/bin/", venv_bin)
        (tmp_path / unit.name).write_text(text)
    names = sorted(str(p) for p in tmp_path.iterdir())
    result = subprocess.run(["systemd-analyze", "verify", *names], capture_output=True, text=True, check=False,
                            timeout=60, cwd=tmp_path)
    problems = [line for line in (result.stdout + result.stderr).splitlines() if line.strip()]
    assert problems == [] and result.returncode == 0


def test_stop_leaves_time_to_drain() -> None:
    from ivr.config.schema import EngineSettings

    unit = (UNITS / "ivr@.service").read_text()
    stop = int(next(line for line in unit.splitlines() if line.startswith("TimeoutStopSec=")).split("=")[1])
    assert "KillSignal=SIGTERM" in unit
    assert stop > EngineSettings().drain_seconds + 2 + 5  # drain, hand-back, threads joined


def test_redis_settings_lose_no_callback() -> None:
    conf = dict(line.split(None, 1) for line in (ROOT / "deploy" / "redis" / "ivr-redis.conf").read_text()
                .splitlines() if line.strip() and not line.startswith("#"))
    assert conf["appendonly"] == "yes" and conf["appendfsync"] == "always"
    assert conf["no-appendfsync-on-rewrite"] == "no" and conf["maxmemory-policy"] == "noeviction"
