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
import time
import warnings
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


@pytest.fixture(autouse=True)
def no_call_left_up(request: pytest.FixtureRequest) -> Iterator[None]:
    """After each test on the real Asterisk, every channel still up is hung up.

    A call a test leaves behind does not stay quiet: one the engine let go of sits in the
    dialplan's fallback ``Queue(hotline-<queue>)`` for up to five minutes, and that queue's
    static members are the operators' phones.  The next test's freshly registered op101
    then answers that stale call instead of its own (seen in CI: one failure became four,
    each a phone that "did not answer").  So each test starts with no call up, and the
    one that left calls says so."""
    yield
    if "asterisk" not in request.fixturenames:
        return
    harness: AsteriskHarness = request.getfixturevalue("asterisk")
    if harness.cli("core show channels count").lstrip().startswith("0 active channels"):
        return
    left = harness.cli("core show channels")
    harness.cli("channel request hangup all")
    deadline = time.monotonic() + 30
    while not harness.cli("core show channels count").lstrip().startswith("0 active channels"):
        if time.monotonic() > deadline:
            pytest.fail(f"{request.node.nodeid} left channels that do not hang up:\n"
                        + harness.cli("core show channels"), pytrace=False)
        time.sleep(0.2)
    warnings.warn(f"{request.node.nodeid} left channels up (hung up after it):\n{left}", stacklevel=1)


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
