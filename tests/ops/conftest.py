"""An engine on a real redis-server (loopback), with the shipped config and menu."""

from __future__ import annotations

import base64
import dataclasses
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from ivr.config import Config, Secrets, load_config
from ivr.engine import Engine, build_engine
from routing.redis_conn import connect
from tests.redis_servers import RedisServer

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(Path(__file__).parent))
RECORDING_KEY = "k1:" + base64.b64encode(bytes(range(32))).decode()


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    server = RedisServer().start()
    yield server
    server.close()


def moved_config(config: Config, tmp: Path, *, prefix: str | None = None) -> Config:
    """The shipped config with its writable paths under ``tmp`` and its own key prefix."""
    rec = dataclasses.replace(
        config.recordings, dir=str(tmp / "rec"), audit_log=str(tmp / "audit" / "access.jsonl"),
        deletion_log=str(tmp / "audit" / "deleted.jsonl"))
    redis = dataclasses.replace(config.redis, prefix=prefix or f"t{uuid.uuid4().hex[:8]}")
    return dataclasses.replace(config, recordings=rec, redis=redis)


@pytest.fixture
def make_engine(tmp_path: Path, redis_server: RedisServer):  # type: ignore[no-untyped-def]
    config = load_config(ROOT / "config.yaml")

    def build(clock=None, **kw) -> Engine:  # type: ignore[no-untyped-def]
        moved = moved_config(config, tmp_path, **kw)
        redis = connect(redis_server.url, embedded_dir=str(tmp_path / "unused"))
        extra = {"clock": clock} if clock is not None else {}
        return build_engine(moved, Secrets(recording_key=RECORDING_KEY), redis=redis, **extra)

    return build
