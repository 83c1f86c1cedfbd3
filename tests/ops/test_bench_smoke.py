"""The FastAGI load bench at a few calls, so it keeps working: both worlds, the real pace.

Figures are not judged here (BENCHMARKS.md holds them); what is checked is that calls
walk the menu, the server answers every level and the probe reports where time went."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("services", ["memory", "redis"])
def test_fastagi_bench_runs_a_level_of_calls(services: str) -> None:
    result = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "fastagi_bench.py"), "--levels", "10", "--seconds", "2",
         "--ramp", "0.5", "--services", services],
        capture_output=True, text=True, timeout=120, cwd=ROOT, check=False,
        env={**os.environ, "BENCH_PROBE": "2"})
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    row = next(line.split() for line in result.stdout.splitlines() if line.split()[:1] == ["10"])
    commands, p50, p99 = int(row[1]), float(row[2]), float(row[3])
    assert commands >= 5 and 0 < p50 <= p99  # calls walked the menu, one AGI command after another
    assert "slowest 1% in-server" in result.stderr and "gc gen0" in result.stderr
