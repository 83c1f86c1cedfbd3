"""Every ``ivr`` command a user may type while the engine runs leaves the engine serving."""

from __future__ import annotations

import pytest

from tests.journeys.product import Product, until


@pytest.mark.parametrize("command", [
    ("users", "list"),
    ("queues",),
    ("queues", "--json"),
])
def test_a_second_command_leaves_the_engines_redis_up(product: Product, command: tuple[str, ...]) -> None:
    serving = product.serve()
    until(lambda: serving.get("/readyz").json()["checks"]["redis"], 10, what="redis up")
    done = product.ivr(*command)
    assert done.returncode == 0, done.stderr
    for _ in range(3):
        assert serving.get("/readyz", timeout=5).json()["checks"]["redis"] is True
    assert serving.stop() < 15
