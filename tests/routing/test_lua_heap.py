"""What the routing library keeps in Redis's Lua heap between calls.

Redis runs a forced garbage-collector step after every 50th script call, and that step's
cost grows with the live heap: when every operator's parsed record was kept, it doubled
the time of the call it landed on (``bench/routing_tail.py``).  So the library keeps
only what the configuration bounds (class definitions, settings), never one record per
operator or per call.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from ivr.config.schema import OperatorConfig, RoutingSettings
from routing.engine import Router
from routing.redis_conn import connect
from tests.redis_servers import RedisServer
from tests.routing.conftest import QUEUES, FakeClock, call


@pytest.fixture
def own_server(tmp_path: Any) -> Iterator[Any]:
    """A server of this test's own: its Lua heap holds nobody else's operators."""
    server = RedisServer().start()
    client = connect(server.url, embedded_dir=str(tmp_path))
    yield client
    client.close()
    server.close()


def staff(n: int) -> dict[str, OperatorConfig]:
    return {
        f"op{i:04d}": OperatorConfig(
            f"Op {i}",
            {"general": 5, "payments": 1 + i % 5, "special": 1 + i // 5 % 5},
            f"PJSIP/op{i:04d}",
            ("ru", "en") if i % 3 == 0 else ("ru",),
        )
        for i in range(n)
    }


def lua_heap_after_a_shift(client: Any, n: int) -> int:
    """Bytes in the Functions' Lua heap after n operators log in, take a call each, end it
    and take the next."""
    clock = FakeClock()
    router = Router(
        redis=client, queues=QUEUES, operators=staff(n), settings=RoutingSettings(),
        clock=clock, prefix=f"heap{n}",
    )  # fmt: skip
    for i in range(2 * n):
        router.enqueue(call(f"c{i}", clock.now, queue="general"))
    for op_id in router.operators:
        assignment = router.set_operator_state(op_id, "available")
        assert assignment is not None
        router.connected(assignment.call_id)
        router.ended(assignment.call_id)
        assert router.set_operator_state(op_id, "available") is not None
    assert client.function_list(), "this measures the Function library (Redis >= 7)"
    return int(client.info("memory")["used_memory_vm_functions"])


def test_the_lua_heap_does_not_grow_with_the_operators(own_server: Any) -> None:
    few = lua_heap_after_a_shift(own_server, 50)
    many = lua_heap_after_a_shift(own_server, 2_000)
    # Garbage not yet collected counts too (up to about the live heap again).  With a
    # record kept per operator (8bc88b0) the 2,000 added 3.7 MB; now about 2 KB.
    assert many < few + 512 * 1024, (few, many)
