"""A 20-second run of bench/soak.py: two engines, one redis-server, Redis killed and
restarted, engine B killed and restarted, callers hanging up mid-prompt, garbage on
the AGI socket.  Nothing lost, nothing assigned twice, no personal data in the logs."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_soak_smoke_loses_no_call_and_assigns_none_twice() -> None:
    result = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "soak.py"), "--minutes", "0.33", "--rate", "3",
         "--operators", "6", "--lease", "4", "--json"],
        capture_output=True, text=True, timeout=240, cwd=ROOT, check=False)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    figures = json.loads(result.stdout.strip().splitlines()[-1])
    outcomes = figures["outcomes"]
    assert figures["offered"] >= 50
    assert figures["lost"] == 0, figures["lost_calls"]
    assert figures["duplicated_assignments"] == 0, figures["duplicates"]
    assert figures["left_in_queue"] == 0
    assert outcomes.get("connected", 0) > 0 and figures["completed"] > figures["offered"] / 2
    assert outcomes.get("abandoned by caller", 0) > 0  # the mid-prompt hang-ups happened
    assert len(figures["faults"]) == 2  # Redis and engine B were restarted
    assert figures["personal_data_in_engine_logs"] == 0
