"""Each test on the real Asterisk starts with no call up, whatever the test before it left.

A call left behind rings the operators' phones: the dialplan's fallback
``Queue(hotline-general)`` has op101-op104 as static members, so the next test's freshly
registered op101 would answer that stale call instead of its own.  conftest's
``no_call_left_up`` hangs up what a test leaves (and warns, naming the test).  The two
tests below run in this order: the first leaves a caller in that queue on purpose, the
second is what any later test sees.
"""

from __future__ import annotations

import pytest
from asterisk_harness import AsteriskHarness

pytestmark = [pytest.mark.asterisk, pytest.mark.filterwarnings("ignore:.*left channels up")]


def callers_in(asterisk: AsteriskHarness, queue: str) -> str:
    return asterisk.cli(f"queue show {queue}").splitlines()[0]


def test_a_caller_left_waiting_in_the_fallback_queue(asterisk: AsteriskHarness) -> None:
    asterisk.cli("channel originate Local/707@test-caller application Queue hotline-general,t,,,300")
    assert "1 calls" in callers_in(asterisk, "hotline-general"), asterisk.cli("core show channels")


def test_the_next_test_finds_no_call_up_and_nobody_waiting(asterisk: AsteriskHarness) -> None:
    assert asterisk.cli("core show channels count").lstrip().startswith("0 active channels"), \
        asterisk.cli("core show channels")
    assert "0 calls" in callers_in(asterisk, "hotline-general")
