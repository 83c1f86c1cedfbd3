"""The engine and routing packages stay mypy --strict clean (STYLE: typed, py.typed)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_mypy_strict_on_the_engine_and_routing() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "mypy", "ivr", "routing"],
        cwd=ROOT, capture_output=True, text=True, timeout=600, check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
