"""Leases in a real Redis: one holder at a time, released only by its holder, expiring."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
import redis as redis_py

from ivr.lease import Leases
from tests.redis_servers import RedisServer


@pytest.fixture
def client() -> Iterator[Any]:
    server = RedisServer().start()
    c = redis_py.Redis.from_url(server.url)
    yield c
    c.close()
    server.close()


def test_one_holder_and_only_the_holder_releases(client: Any) -> None:
    leases = Leases(client)
    token = leases.take("{t}:lease", 60)
    assert token is not None
    assert leases.take("{t}:lease", 60) is None  # held
    leases.release("{t}:lease", "not-the-token")
    assert leases.take("{t}:lease", 60) is None  # still held
    leases.release("{t}:lease", token)
    assert leases.take("{t}:lease", 60, "mine") == "mine"


def test_an_expired_lease_taken_by_another_is_not_the_first_holders_to_release(client: Any) -> None:
    leases = Leases(client)
    first = leases.take("{t}:lease", 0.05)
    assert first is not None
    time.sleep(0.2)
    second = leases.take("{t}:lease", 60)
    assert second is not None
    leases.release("{t}:lease", first)  # late: the lease is the second holder's now
    assert client.get("{t}:lease") == second.encode()
