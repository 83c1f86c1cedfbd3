"""The readiness ping: one PING on a connection of its own, a short timeout, no retry.

The engine's clients retry for about ten seconds (``routing.redis_conn``), which is right
for a call in progress and wrong for ``/readyz``: a balancer asking "can you take calls?"
must hear "no" at once while Redis is down or hung, not after its own timeout.  So the
probe opens one connection with the client's own settings (host, port or socket, TLS,
password), sends ``PING``, expects ``PONG`` within ``timeout`` seconds, and closes it.
"""

from __future__ import annotations

from typing import Any

from redis.backoff import NoBackoff
from redis.cluster import RedisCluster
from redis.retry import Retry

TIMEOUT = 1.0


def redis_answers(client: Any, *, timeout: float = TIMEOUT) -> bool:
    """True if the server behind ``client`` (a cluster: its default node) answers PING in time."""
    if isinstance(client, RedisCluster):
        client = client.get_default_node().redis_connection  # type: ignore[no-untyped-call]
    pool = client.connection_pool
    options = {**pool.connection_kwargs, "socket_timeout": timeout, "socket_connect_timeout": timeout,
               "retry": Retry(NoBackoff(), 0), "retry_on_error": [], "health_check_interval": 0}
    connection = pool.connection_class(**options)
    try:
        connection.send_command("PING")
        return connection.read_response() in (b"PONG", "PONG", True)
    except Exception:  # noqa: BLE001 - any failure means "not reachable"
        return False
    finally:
        connection.disconnect()
