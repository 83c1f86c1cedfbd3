"""``/readyz`` answers at once while Redis is down or hung (issue 20, point 4).

The engine's Redis client retries for about ten seconds, right for a call and wrong for a
balancer's readiness check: here a real redis-server is stopped, then frozen (SIGSTOP,
accepting connections and answering nothing), and ``/readyz`` must say 503 within 2 s.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from ivr.config import Secrets, load_config
from ivr.engine import Engine, build_engine
from ivr.web.app import create_app
from routing.redis_conn import connect
from tests.ops.conftest import RECORDING_KEY, ROOT, moved_config
from tests.redis_servers import RedisServer


@pytest.fixture()
def own_redis() -> Iterator[RedisServer]:
    server = RedisServer().start()
    yield server
    if server.proc is not None:
        os.kill(server.proc.pid, signal.SIGCONT)
    server.close()


@pytest.fixture()
def engine(own_redis: RedisServer, tmp_path: Path) -> Engine:
    config = moved_config(load_config(ROOT / "config.yaml"), tmp_path)
    return build_engine(config, Secrets(recording_key=RECORDING_KEY),
                        redis=connect(own_redis.url, embedded_dir=str(tmp_path / "unused")))


def timed_readyz(engine: Engine) -> tuple[int, bool, float]:
    client = create_app(engine).test_client()
    started = time.monotonic()
    reply = client.get("/readyz")
    return reply.status_code, reply.json["checks"]["redis"], time.monotonic() - started


def test_readyz_answers_503_at_once_while_redis_is_down(engine: Engine, own_redis: RedisServer) -> None:
    assert timed_readyz(engine)[:2] == (200, True)
    own_redis.stop(kill=True)
    status, redis_ok, took = timed_readyz(engine)
    assert (status, redis_ok) == (503, False) and took < 2.0, took
    own_redis.start()  # same port: ready again, without a restart of the engine
    assert timed_readyz(engine)[:2] == (200, True)


def test_readyz_answers_503_at_once_while_redis_hangs(engine: Engine, own_redis: RedisServer) -> None:
    assert own_redis.proc is not None
    os.kill(own_redis.proc.pid, signal.SIGSTOP)
    status, redis_ok, took = timed_readyz(engine)
    assert (status, redis_ok) == (503, False) and took < 2.0, took
    os.kill(own_redis.proc.pid, signal.SIGCONT)
    assert timed_readyz(engine)[:2] == (200, True)
