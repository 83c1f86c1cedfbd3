"""The routing suite runs against a real single Redis server AND a real 3-master cluster.

Every test gets its own key prefix (so its own hash tag, hence its own slot: across
the suite the tags land on all three masters) and a clock it moves by hand.
"""

from __future__ import annotations

import datetime as dt
import itertools
import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from ivr.config.schema import OperatorConfig, QueueConfig, RoutingSettings
from routing.engine import Router
from routing.hours import Calendar
from routing.model import WaitingCall
from routing.redis_conn import connect
from tests.clock import ManualClock
from tests.redis_servers import RedisClusterNodes, RedisServer

# Monday 2 March 2026, 10:00 Moscow time.
T0 = dt.datetime(2026, 3, 2, 10, 0, tzinfo=ZoneInfo("Europe/Moscow")).timestamp()


class FakeClock(ManualClock):
    start = T0


@dataclass
class Backend:
    kind: str
    url: str
    single: RedisServer | None = None
    cluster: RedisClusterNodes | None = None


@pytest.fixture(scope="session")
def single_server() -> Iterator[RedisServer]:
    server = RedisServer().start()
    yield server
    server.close()


@pytest.fixture(scope="session")
def cluster_nodes() -> Iterator[RedisClusterNodes]:
    cluster = RedisClusterNodes().start()
    yield cluster
    cluster.close()


@pytest.fixture(params=["single", pytest.param("cluster", marks=pytest.mark.cluster)])
def backend(request: pytest.FixtureRequest) -> Backend:
    if request.param == "single":
        server = request.getfixturevalue("single_server")
        return Backend("single", server.url, single=server)
    nodes = request.getfixturevalue("cluster_nodes")
    return Backend("cluster", nodes.url, cluster=nodes)


@pytest.fixture
def redis(backend: Backend, tmp_path: Any) -> Iterator[Any]:
    client = connect(backend.url, embedded_dir=str(tmp_path))
    yield client
    client.close()


_counter = itertools.count()


@pytest.fixture
def prefix() -> str:
    return f"t{next(_counter)}-{uuid.uuid4().hex[:6]}"


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


QUEUES: dict[str, QueueConfig] = {
    "general": QueueConfig(skills=("general",), name="Общие вопросы"),
    "payments": QueueConfig(skills=("payments",), name="Платежи"),
    "special": QueueConfig(skills=("special",), name="Особые случаи", urgent=True),
}


def op(
    skills: Mapping[str, int], languages: tuple[str, ...] = ("ru",), name: str = ""
) -> OperatorConfig:
    return OperatorConfig(name=name or "op", skills=dict(skills), endpoint="", languages=languages)


def operators(**specs: OperatorConfig) -> dict[str, OperatorConfig]:
    return {
        op_id: OperatorConfig(spec.name, spec.skills, f"PJSIP/{op_id}", spec.languages)
        for op_id, spec in specs.items()
    }


RouterFactory = Callable[..., Router]


@pytest.fixture
def make_router(redis: Any, prefix: str, clock: FakeClock) -> RouterFactory:
    def make(
        ops: Mapping[str, OperatorConfig] | None = None,
        *,
        queues: Mapping[str, QueueConfig] | None = None,
        settings: RoutingSettings | None = None,
        calendar: Calendar | None = None,
    ) -> Router:
        return Router(
            redis=redis,
            queues=queues or QUEUES,
            operators=ops or {},
            settings=settings or RoutingSettings(),
            calendar=calendar,
            clock=clock,
            prefix=prefix,
        )

    return make


def call(
    call_id: str,
    at: float,
    *,
    queue: str = "general",
    priority: int = 0,
    language: str = "ru",
    skills: tuple[str, ...] | None = None,
    identity: tuple[str, ...] = (),
    caller: str = "+79160000000",
) -> WaitingCall:
    return WaitingCall(
        call_id=call_id,
        queue=queue,
        skills=skills if skills is not None else QUEUES[queue].skills,
        priority=priority,
        language=language,
        caller=caller,
        enqueued_at=at,
        context={"topic": queue, "name": "Иванов И. И.", "node": "topic_menu"},
        identity_keys=identity,
    )
