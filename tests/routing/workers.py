"""Engine processes for the reliability tests (importable by spawned children)."""

from __future__ import annotations

import random
import sys
import time

from ivr.config.schema import OperatorConfig, RoutingSettings
from routing.engine import Router
from routing.errors import RoutingError
from routing.model import WaitingCall
from routing.redis_conn import connect
from tests.routing.conftest import QUEUES

OPERATORS = {
    f"op{i}": OperatorConfig(
        f"Operator {i}",
        {"general": 3 + i % 3, "payments": 3} if i % 2 else {"general": 4},
        f"PJSIP/op{i}",
        ("ru", "en"),
    )
    for i in range(12)
}


def make_router(url: str, prefix: str, clock: object = time.time) -> Router:
    return Router(
        redis=connect(url, embedded_dir="/tmp/unused"),
        queues=QUEUES,
        operators=OPERATORS,
        settings=RoutingSettings(wrap_up_seconds=0),
        clock=clock,  # type: ignore[arg-type]
        prefix=prefix,
    )


def hammer(url: str, prefix: str, worker: int, seconds: float, seed: int) -> int:
    """Enqueue, assign, connect, end, abandon and flip operator states at random."""
    rnd = random.Random(seed)
    router = make_router(url, prefix)
    deadline = time.monotonic() + seconds
    n = 0
    ops = list(OPERATORS)
    while time.monotonic() < deadline:
        n += 1
        action = rnd.random()
        try:
            if action < 0.35:
                queue = rnd.choice(["general", "payments"])
                router.enqueue(
                    WaitingCall(
                        f"w{worker}-{n}",
                        queue,
                        QUEUES[queue].skills,
                        rnd.randint(0, 2),
                        "ru",
                        "+7900",
                        time.time(),
                    )
                )
            elif action < 0.55:
                router.set_operator_state(
                    rnd.choice(ops), rnd.choice(["available", "available", "break", "offline"])
                )
            elif action < 0.8:
                status = router.operator_status(rnd.choice(ops))
                if status.assignment is not None:
                    if status.state == "reserved":
                        if rnd.random() < 0.15:
                            router.abandon(status.assignment.call_id)
                        else:
                            router.connected(status.assignment.call_id)
                    elif status.state == "on_call":
                        router.ended(status.assignment.call_id)
            else:
                router.assign()
        except RoutingError:
            pass  # someone else changed it first: that is the point
    return n


def reserve_and_hang(url: str, prefix: str, now: float) -> None:
    """Enqueue a call, get an operator reserved for it, then wait to be killed."""
    router = make_router(url, prefix, clock=lambda: now)
    router.set_operator_state("op0", "available")
    placement = router.enqueue(WaitingCall("k1", "general", ("general",), 0, "ru", "+7900", now))
    assert placement.assignment is not None
    print("reserved", placement.assignment.operator_id, flush=True)
    time.sleep(600)


if __name__ == "__main__":
    reserve_and_hang(sys.argv[1], sys.argv[2], float(sys.argv[3]))
