"""``recordings.storage`` in config.yaml: typed, checked with file:line, credentials from
the environment only; the wiring builds the bucket's store from it."""

from __future__ import annotations

from pathlib import Path

import pytest

from ivr.config import ConfigError
from ivr.config.load import load_config
from ivr.config.secrets import Secrets
from ivr.recordings.blobs import DirectoryBlobs
from ivr.recordings.s3 import S3Blobs
from ivr.recordings.wiring import build_recordings
from tests.embedded import embedded_redis
from tests.s3server import ACCESS_KEY, SECRET_KEY, S3Server

from .conftest import Clock, b64key, consent

ROOT = Path(__file__).resolve().parents[2]


def write(tmp_path: Path, recordings: str) -> tuple[Path, int]:
    """The repository's config.yaml with ``recordings`` in place of its storage line; the
    path and the number of that line."""
    text = (ROOT / "config.yaml").read_text()
    line = next(i for i, s in enumerate(text.splitlines(), 1) if s.startswith("  storage: directory"))
    lines = text.splitlines(keepends=True)
    lines[line - 1] = recordings
    (tmp_path / "dialplans" / "calendar").mkdir(parents=True, exist_ok=True)
    (tmp_path / "dialplans" / "calendar" / "ru.yaml").write_text((ROOT / "dialplans/calendar/ru.yaml").read_text())
    path = tmp_path / "config.yaml"
    path.write_text("".join(lines))
    return path, line


def problems(path: Path) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    return [str(p) for p in caught.value.problems]


def test_s3_without_its_section_or_with_a_bad_endpoint_is_named_with_its_line(tmp_path: Path) -> None:
    path, at = write(tmp_path, "  storage: s3\n")
    assert problems(path) == [f"{path}:{at}: storage 's3' needs a recordings.s3 section with a bucket"]
    path, at = write(tmp_path, "  storage: s3\n  s3:\n    bucket: calls\n    endpoint: minio:9000\n    attempts: 0\n")
    assert sorted(problems(path)) == sorted([f"{path}:{at + 4}: attempts must be at least 1",
                                             f"{path}:{at + 3}: the endpoint is a URL: http(s)://host:port"])
    path, at = write(tmp_path, "  storage: bucket\n")
    assert [p.split(": ", 1)[0] for p in problems(path)] == [f"{path}:{at}"]
    path, at = write(tmp_path, "  storage: s3\n  s3:\n    endpoint: http://minio:9000\n")
    [missing] = problems(path)
    assert missing.startswith(f"{path}:{at + 1}:") and "bucket" in missing


def test_the_default_stays_the_directory(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, "  storage: directory\n")[0])
    assert config.recordings.storage == "directory" and config.recordings.s3 is None
    server = embedded_redis(str(tmp_path / "r.db"))
    try:
        rec = build_recordings(config, Secrets(recording_key=f"k1:{b64key()}"), server, clock=Clock())
        assert isinstance(rec.store.blobs, DirectoryBlobs) and rec.store.blobs.root == tmp_path / "recordings"
        assert "archive" not in rec.startup_message
    finally:
        server.shutdown()


def test_s3_from_config_and_the_environment(tmp_path: Path, s3_server: S3Server) -> None:
    bucket = s3_server.new_bucket()
    config = load_config(write(tmp_path, (
        f"  storage: s3\n  s3:\n    bucket: {bucket}\n    endpoint: {s3_server.endpoint}\n"
        "    prefix: calls\n    outbox_dir: var/outbox\n"))[0])
    secrets = Secrets.from_env({"IVR_RECORDING_KEY": f"k1:{b64key()}", "AWS_ACCESS_KEY_ID": ACCESS_KEY,
                                "AWS_SECRET_ACCESS_KEY": SECRET_KEY})
    assert SECRET_KEY not in repr(secrets)
    server = embedded_redis(str(tmp_path / "r.db"))
    try:
        rec = build_recordings(config, secrets, server, clock=Clock())
        blobs = rec.store.blobs
        assert isinstance(blobs, S3Blobs) and blobs.outbox == tmp_path / "var" / "outbox"
        assert f"archive s3://{bucket}/calls/ at {s3_server.endpoint}" in rec.startup_message
        assert SECRET_KEY not in rec.startup_message and ACCESS_KEY not in rec.startup_message
        rec.start()
        meta = rec.store.ingest(b"RIFF....WAVE", call_id="c", consent=consent())
        keys = {o["Key"] for o in s3_server.client().list_objects_v2(Bucket=bucket)["Contents"]}
        assert keys == {"calls/.ivr-recordings", f"calls/{meta.id[:2]}/{meta.id}.rec"}
        unsigned = build_recordings(config, Secrets(recording_key=f"k1:{b64key()}"), server, clock=Clock())
        assert "AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY not set" in unsigned.startup_message
    finally:
        server.shutdown()
