"""Fixtures for the real-Asterisk tier (tests marked `asterisk`).

These tests never skip: if the chroot cannot be built or Asterisk does not boot,
they error with the reason.  To opt out, set IVR_SKIP_ASTERISK=1, which deselects
every test marked `asterisk` (tests/conftest.py: the journeys have such tests too).

Asterisk boots the project's own dialplans/asterisk/*.conf over the harness's base
config, with the few test overrides listed in hotline_conf.py.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from ami_client import AmiClient
from asterisk_harness import AsteriskHarness, AsteriskHarnessError
from hotline_conf import compose_conf_dir
from recording_agi import RecordingAgiServer


@pytest.fixture(scope="session")
def asterisk_conf_dirs(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    return [compose_conf_dir(tmp_path_factory.mktemp("asterisk") / "etc")]


@pytest.fixture(scope="session")
def asterisk(asterisk_conf_dirs: list[Path]) -> Iterator[AsteriskHarness]:
    """A running real Asterisk (booted from asterisk_conf_dirs); stopped at session end."""
    harness = AsteriskHarness()
    problem = None
    try:
        harness.ensure_chroot()
        harness.start(asterisk_conf_dirs)
    except (AsteriskHarnessError, OSError, subprocess.SubprocessError) as exc:
        harness.stop()
        problem = str(exc)
    if problem is not None:  # fail (never skip), outside the except: no chained traceback
        pytest.fail(
            f"real Asterisk unavailable: {problem}\n"
            "(IVR_SKIP_ASTERISK=1 deselects the tests marked 'asterisk')",
            pytrace=False,
        )
    try:
        yield harness
    finally:
        harness.stop()


@pytest.fixture(scope="session")
def ami(asterisk: AsteriskHarness) -> Iterator[AmiClient]:
    client = asterisk.ami()
    try:
        yield client
    finally:
        client.close()


@pytest.fixture(scope="session")
def agi_recorder() -> Iterator[RecordingAgiServer]:
    server = RecordingAgiServer()
    try:
        yield server
    finally:
        server.close()
