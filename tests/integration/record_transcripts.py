"""Record real AGI transcripts into tests/asterisk/transcripts/ (run as root).

    /tmp/probe-venv/bin/python tests/integration/record_transcripts.py [scenario ...]
"""

from __future__ import annotations

import sys

from agi_calls import call_and_record
from agi_scenarios import SCENARIOS, SCENARIOS_BY_NAME
from asterisk_harness import REPO_ROOT, AsteriskHarness
from recording_agi import RecordingAgiServer

OUT_DIR = REPO_ROOT / "tests" / "asterisk" / "transcripts"


def main(names: list[str]) -> int:
    scenarios = [SCENARIOS_BY_NAME[n] for n in names] if names else SCENARIOS
    OUT_DIR.mkdir(parents=True, exist_ok=True)
    harness = AsteriskHarness()
    harness.ensure_chroot()
    server = RecordingAgiServer()
    try:
        harness.start()
        version = harness.version().split(" built by")[0]
        with harness.ami() as ami:
            for scenario in scenarios:
                session = call_and_record(harness, ami, server, scenario)
                header = (f"# scenario: {scenario.name}: {scenario.description}\n"
                          f"# recorded against: {version}\n"
                          f"# caller: {scenario.caller} {scenario.agi_vars}\n")
                (OUT_DIR / f"{scenario.name}.txt").write_text(header + session.transcript())
                print(f"recorded {scenario.name}", flush=True)
    finally:
        server.close()
        harness.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
