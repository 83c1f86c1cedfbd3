"""Any selection of test files collects, in any order: a developer runs the tier they touch.

``pytest tests/asterisk/test_transcripts.py tests/asterisk/test_fastagi_calls.py`` (or
``pytest tests/integration tests/asterisk``) once failed at collection: the fast tier's
test files imported their helpers from ``conftest``, and ``conftest`` was then whichever
of tests/asterisk's and tests/integration's was imported first.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize("files", [
    ["tests/asterisk/test_transcripts.py", "tests/asterisk/test_fastagi_calls.py"],
    ["tests/integration/test_asterisk_real.py", "tests/asterisk/test_hearing_calls.py", "tests/ops/test_metrics.py"],
])
def test_the_fast_tier_collects_after_the_real_tiers_helpers(files: list[str]) -> None:
    result = subprocess.run([sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider", *files],
                            cwd=ROOT, capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
