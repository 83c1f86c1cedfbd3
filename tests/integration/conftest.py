"""Fixtures for the real-Asterisk tier (tests marked `asterisk`).

These tests never skip: if the chroot cannot be built or Asterisk does not boot,
they error with the reason.  To opt out, set IVR_SKIP_ASTERISK=1, which deselects
every test marked `asterisk`.

Override `asterisk_conf_dirs` in a nearer conftest.py to boot a different config
(e.g. [BASE_CONF_DIR, REPO_ROOT / "dialplans/asterisk"]); later dirs win per file.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from ami_client import AmiClient  # noqa: E402
from asterisk_harness import BASE_CONF_DIR, AsteriskHarness, AsteriskHarnessError  # noqa: E402
from recording_agi import RecordingAgiServer  # noqa: E402


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "asterisk: needs a real Asterisk 22 in a Debian sid chroot (root; network to "
        "Debian's archive on the first run).  IVR_SKIP_ASTERISK=1 deselects these tests.",
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if os.environ.get("IVR_SKIP_ASTERISK") != "1":
        return
    keep = [item for item in items if item.get_closest_marker("asterisk") is None]
    dropped = [item for item in items if item.get_closest_marker("asterisk") is not None]
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = keep


@pytest.fixture(scope="session")
def asterisk_conf_dirs() -> list[Path]:
    return [BASE_CONF_DIR]


@pytest.fixture(scope="session")
def asterisk(asterisk_conf_dirs: list[Path]) -> Iterator[AsteriskHarness]:
    """A running real Asterisk (booted from asterisk_conf_dirs); stopped at session end."""
    harness = AsteriskHarness()
    try:
        harness.ensure_chroot()
        harness.start(asterisk_conf_dirs)
    except (AsteriskHarnessError, OSError, subprocess.SubprocessError) as exc:
        harness.stop()
        pytest.fail(
            f"real Asterisk unavailable: {exc}\n"
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
