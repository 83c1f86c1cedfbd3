from __future__ import annotations

import os
from pathlib import Path

from ivr.config.schema import Config, QueueConfig, RecordingSettings
from ivr.config.secrets import Secrets
from ivr.recordings.wiring import build_recordings, check_recording_key
from tests.embedded import embedded_redis

from .conftest import Clock, b64key, consent


def test_start_up_messages() -> None:
    settings = RecordingSettings()
    assert check_recording_key(Secrets(), settings) == (
        "recordings: NO KEY — recording is OFF; calls proceed without recording"
    )
    k = b64key()
    assert check_recording_key(Secrets(recording_key=f"k2:{k},k1:{b64key()}"), settings) == (
        "recordings: key present (id k2, from IVR_RECORDING_KEY); older keys for reading: k1"
    )
    bad = check_recording_key(Secrets(recording_key="k1:c2hvcnQ="), settings)
    assert bad.startswith("recordings: BAD KEY (") and "recording is OFF" in bad and "c2hvcnQ=" not in bad


def test_key_file_relative_to_config_and_permission_warning(tmp_path: Path) -> None:
    (tmp_path / "rec.key").write_text(f"k7:{b64key()}\n")
    os.chmod(tmp_path / "rec.key", 0o644)
    message = check_recording_key(Secrets(), RecordingSettings(key_file="rec.key"), base_dir=tmp_path)
    assert message.startswith("recordings: key present (id k7, from key file)") and "chmod 600" in message


def test_build_from_config_uses_queue_retention(tmp_path: Path) -> None:
    server = embedded_redis(str(tmp_path / "r.db"))
    try:
        config = Config(
            queues={
                "general": QueueConfig(skills=("general",)),
                "urgent": QueueConfig(skills=("urgent",), retention_days=90),
            },
            root=str(tmp_path),
        )
        clock = Clock()
        rec = build_recordings(config, Secrets(recording_key=f"k1:{b64key()}"), server, clock=clock)
        assert rec.enabled and rec.startup_message.startswith("recordings: key present")
        rec.store.initialise()
        meta = rec.store.ingest(b"a", call_id="c", consent=consent(), queue="urgent")
        assert meta.retention_days == 90 and (tmp_path / "recordings").is_dir()
        rec.store.read_for(meta.id, user="s", role="supervisor", reason="r")
        assert (tmp_path / "var" / "audit" / "recordings-access.jsonl").exists()
        off = build_recordings(config, Secrets(), server, clock=clock)
        assert not off.enabled and "NO KEY" in off.startup_message
    finally:
        server.shutdown()


def test_clip_max_age_is_checked_with_its_line(tmp_path: Path) -> None:
    from ivr.config import ConfigError, load_config

    path = tmp_path / "config.yaml"
    path.write_text("queues:\n  general: {skills: [general]}\nrecordings:\n  clip_max_age: 10\n")
    try:
        load_config(path)
    except ConfigError as exc:
        assert "config.yaml:4:" in str(exc) and "at least 300" in str(exc)
    else:
        raise AssertionError("a clip_max_age of 10 s must be refused")
    path.write_text("queues:\n  general: {skills: [general]}\nrecordings:\n  clip_max_age: 7200\n")
    assert load_config(path).recordings.clip_max_age == 7200
