"""Place one scripted test call and collect the recorded AGI session."""

from __future__ import annotations

import itertools
import time

from agi_scenarios import Scenario
from ami_client import AmiClient
from asterisk_harness import AsteriskHarness
from recording_agi import AgiSession, RecordingAgiServer

CALLER_CONTEXT = "ivr-test-caller"
AGI_CONTEXT = "ivr-test-agi"
CALLER_ID = '"IVR test" <79990000001>'
_extens = itertools.count(100)


def call_and_record(
    harness: AsteriskHarness,
    ami: AmiClient,
    server: RecordingAgiServer,
    scenario: Scenario,
    timeout: float = 90.0,
) -> AgiSession:
    """Originate Local/<n>@ivr-test-caller, whose ;1 half runs AGI(<server>/<scenario>)."""
    server.register(scenario.name, scenario.script, scenario.close_wait)
    exten = str(next(_extens))
    variables = {"AGI_URL": server.url(scenario.name), **scenario.caller, **scenario.agi_vars}
    ami.originate_local(f"{exten}@{CALLER_CONTEXT}", AGI_CONTEXT, exten, variables,
                        callerid=CALLER_ID)
    session = server.wait_session(scenario.name, timeout=timeout)
    wait_no_channels(harness)
    return session


def wait_no_channels(harness: AsteriskHarness, timeout: float = 40.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if harness.cli("core show channels count").lstrip().startswith("0 active channels"):
            return
        time.sleep(0.2)
    raise TimeoutError("channels still up:\n" + harness.cli("core show channels"))
