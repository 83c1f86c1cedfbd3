"""Free loopback ports for servers the tests start in another process.

A port found free here is bound later by someone else (an ``ivr serve``, nginx, a Redis
node).  Between the two, any outgoing connection on the machine may be given that very
port if it lies in the kernel's ephemeral range (32768 up; seen in CI: ``ivr serve``
refusing to start, "Address already in use", on a port this module had just found free).
So the ports come from below that range, at random, and are checked free before handed out.
"""

from __future__ import annotations

import random
import socket

_BELOW_EPHEMERAL = (10000, 32000)
_rng = random.Random()


def free_port(*, with_offset: int | None = None) -> int:
    """A loopback TCP port that is free now and that no outgoing connection can take;
    ``with_offset``: ``port + with_offset`` is free too (a Redis Cluster node's bus port)."""
    low, high = _BELOW_EPHEMERAL
    if with_offset is not None:
        high -= with_offset
    while True:
        port = _rng.randrange(low, high)
        wanted = [port] if with_offset is None else [port, port + with_offset]
        if all(_bindable(candidate) for candidate in wanted):
            return port


def _bindable(port: int) -> bool:
    with socket.socket() as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True
