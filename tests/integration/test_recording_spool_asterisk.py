"""Real Asterisk 22 runs the shipped dialplan's [operator-handover]: MixMonitor writes
<UNIQUEID>.wav only with IVR_RECORD=1 and, after the call, its post-command leaves
<UNIQUEID>.wav.done; the engine's spool scan then stores it encrypted.

This test boots its own Asterisk on an overlay of the integration chroot (its own
/etc/asterisk and spool; no SIP, no AMI, its own control socket), so it never touches an
Asterisk another test is running from the shared chroot.
"""

from __future__ import annotations

import base64
import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from asterisk_harness import BASE_CONF_DIR, DEFAULT_ROOT, REPO_ROOT, AsteriskHarness

from ivr.flow import context as call
from ivr.flow.context import CallContext, Step
from ivr.recordings.audit import AuditLog, DeletionLog
from ivr.recordings.consent_log import ConsentLog
from ivr.recordings.keys import Keyring
from ivr.recordings.spool import SpoolIngest
from ivr.recordings.store import RecordingStore
from tests.embedded import embedded_redis

pytestmark = pytest.mark.asterisk

MONITOR = "var/spool/asterisk/monitor/ivr"  # IVR_MONITOR_DIR in the shipped dialplan

MODULES = """[modules]
autoload = no
load => pbx_config.so
load => res_clioriginate.so
load => res_timing_timerfd.so
load => app_playback.so
load => app_dial.so
load => app_mixmonitor.so
load => app_exec.so
load => func_channel.so
load => func_logic.so
load => func_strings.so
load => func_cdr.so
load => format_wav.so
load => format_sln.so
load => format_pcm.so
load => format_gsm.so
load => codec_ulaw.so
load => codec_gsm.so
load => codec_resample.so
load => bridge_simple.so
"""

# A caller and an operator made of Local channels, around the shipped [operator-handover].
TEST_CONTEXTS = """
[rec-test-start]
exten => _rec[01],1,Answer()
 same => n,Set(IVR_RECORD=${EXTEN:3:1})
 same => n,Set(IVR_OPERATOR=op101)
 same => n,Set(IVR_OPERATOR_ENDPOINT=Local/s@rec-test-operator/n)
 same => n,Set(IVR_APPEAL=2026000001)
 same => n,Goto(operator-handover,s,1)

[rec-test-operator]
exten => s,1,Answer()
 same => n,Playback(beep)
 same => n,Playback(beep)
 same => n,Hangup()
"""


@pytest.fixture(scope="module")
def own_asterisk(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[AsteriskHarness, Path]]:
    base = Path(os.environ.get("IVR_ASTERISK_ROOT", DEFAULT_ROOT))
    if not (base / "usr/sbin/asterisk").exists():
        AsteriskHarness(base).ensure_chroot()
    work = tmp_path_factory.mktemp("asterisk-overlay")
    upper, scratch, root, conf = (work / name for name in ("upper", "work", "root", "conf"))
    for path in (upper, scratch, root, conf):
        path.mkdir()
    (conf / "modules.conf").write_text(MODULES)
    (conf / "manager.conf").write_text("[general]\nenabled = no\n")
    shipped = (REPO_ROOT / "dialplans/asterisk/extensions.conf").read_text()
    (conf / "extensions.conf").write_text(shipped + TEST_CONTEXTS)
    subprocess.run(["mount", "-t", "overlay", "overlay", "-o",
                    f"lowerdir={base},upperdir={upper},workdir={scratch}", str(root)], check=True)
    harness = AsteriskHarness(root)
    try:
        (root / MONITOR).mkdir(parents=True, exist_ok=True)
        for stale in (root / MONITOR).iterdir():
            stale.unlink()
        harness.start([BASE_CONF_DIR, conf])
        yield harness, root
    finally:
        harness.stop()
        if subprocess.run(["umount", str(root)], check=False).returncode != 0:
            subprocess.run(["umount", "-l", str(root)], check=False)


def call_through_handover(harness: AsteriskHarness, record: bool) -> None:
    harness.cli(f"channel originate Local/rec{int(record)}@rec-test-start application Wait 10")
    deadline = time.monotonic() + 15
    time.sleep(0.5)
    while time.monotonic() < deadline:
        if "0 active channels" in harness.cli("core show channels count"):
            return
        time.sleep(0.2)
    raise AssertionError("the test call did not end:\n" + harness.tail_logs())


def markers(spool: Path, seconds: float) -> list[Path]:
    """The completion markers, waiting up to ``seconds`` for the first (MixMonitor's thread
    runs the post-command after the channel is gone)."""
    deadline = time.monotonic() + seconds
    while True:
        found = sorted(p for p in spool.iterdir() if p.name.endswith(".wav.done"))
        if found or time.monotonic() > deadline:
            return found
        time.sleep(0.1)


def test_mixmonitor_line_marks_the_finished_file_and_the_scan_stores_it(
        own_asterisk: tuple[AsteriskHarness, Path], tmp_path: Path) -> None:
    harness, root = own_asterisk
    spool = root / MONITOR
    call_through_handover(harness, record=False)
    assert markers(spool, 2.0) == [] and list(spool.iterdir()) == []  # IVR_RECORD=0: nothing recorded
    call_through_handover(harness, record=True)
    found = markers(spool, 10.0)
    assert len(found) == 1, harness.tail_logs()
    marker = found[0]
    audio_file = spool / marker.name.removesuffix(".done")
    audio = audio_file.read_bytes()
    assert audio.startswith(b"RIFF") and len(audio) > 44  # a WAV with the bridged audio in it
    call_id = audio_file.name.removesuffix(".wav")

    server = embedded_redis(str(tmp_path / "r.db"))
    try:
        clock = time.time
        keyring = Keyring.parse(f"k1:{base64.b64encode(os.urandom(32)).decode()}")
        store = RecordingStore(root=tmp_path / "rec", keyring=keyring, redis=server,
                               audit=AuditLog(tmp_path / "audit.jsonl", clock=clock), clock=clock)
        store.initialise()
        consents = ConsentLog(store=store, redis=server, clock=clock)
        consents.call_ended(CallContext(call_id, "+79990000001", "88005553535", clock(), appeal="2026000001",
                                        consent=call.Consent(True, clock(), "key", "1"), outcome="connected",
                                        path=(Step("queue", clock(), clock(), "connected", "op101"),)), clock())
        scanner = SpoolIngest(spool_dir=spool, store=store, consent_log=consents,
                              deletion_log=DeletionLog(tmp_path / "deleted.jsonl", clock=clock), clock=clock)
        [rid] = scanner.scan().ingested
        assert list(spool.iterdir()) == []
        assert store.read_for(rid, user="sv", role="supervisor", reason="real asterisk") == audio
        assert store.meta(rid).operator == "op101"
    finally:
        server.shutdown()
