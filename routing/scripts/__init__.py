"""The routing Lua scripts: ``lib.lua`` is prepended to each, then loaded once.

:class:`Scripts` runs them with ``EVALSHA`` straight away (no ``SCRIPT EXISTS`` or
``SCRIPT LOAD`` per call) and loads a script only after ``NOSCRIPT`` (a Redis restart or
failover wiped the cache).  On Redis Cluster the call goes to the master of ``KEYS[1]``'s
slot; every key a script touches shares its hash tag.

The fast path.  redis-py's ``execute_command`` spends more CPU per command than a routing
script's round trip itself on a small machine (connection pool, event and metrics hooks:
about 45 us of client CPU per call here, measured by ``bench/routing_bench.py``), so a
script is sent on a connection this object keeps from the client's own pool (for a
cluster: from the pool of the slot's master), with the client's encoder, parser and
health checks.  Anything unusual goes to the client's full path, which has the retries
with backoff, the reconnects and the cluster redirections: a lost connection or a
timeout, a server loading its data, ``MOVED`` / ``ASK`` / ``TRYAGAIN`` / ``CLUSTERDOWN``,
``NOSCRIPT``, or another thread using the kept connection at that moment.  Resending a
script after a lost reply is safe: every routing script is idempotent.

Arguments every script takes first (see ``lib.lua``): key tag, now, stats day,
reservation s, wrap-up s, events kept, default handle s, queues closed now.
"""

from __future__ import annotations

import hashlib
import os
import threading
from collections.abc import Sequence
from importlib import resources
from typing import Any

from redis.exceptions import (
    AskError,
    BusyLoadingError,
    ClusterDownError,
    NoScriptError,
    TryAgainError,
)
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

NAMES = (
    "enqueue",
    "status",
    "set_state",
    "assign",
    "connected",
    "ended",
    "abandon",
    "request_callback",
    "callback_result",
    "due",
    "appeal",
    "reindex",
)

#: Number of the arguments shared by every script (``A`` in ``lib.lua``).
COMMON_ARGS = 8

#: Version of the derived indexes; a Redis holding another runs ``reindex`` once.
SCHEMA = "2"

#: Errors after which a call goes to the client's full path (retries, redirections).
_REROUTE = (
    RedisConnectionError,
    RedisTimeoutError,
    OSError,
    BusyLoadingError,
    AskError,  # and MovedError
    TryAgainError,
    ClusterDownError,
)


def source(name: str) -> str:
    files = resources.files(__name__)
    return files.joinpath("lib.lua").read_text() + "\n" + files.joinpath(f"{name}.lua").read_text()


class Scripts:
    """The named scripts of one client, called as ``scripts(name, key, args)``."""

    def __init__(self, redis: Any, names: Sequence[str] = NAMES) -> None:
        self.redis = redis
        self._source = {name: source(name) for name in names}
        self.sha = {
            name: hashlib.sha1(text.encode()).hexdigest() for name, text in self._source.items()
        }
        self._cluster = hasattr(redis, "get_node_from_key")
        self._lock = threading.Lock()
        self._pid = os.getpid()
        self._kept: tuple[Any, Any] | None = None  # (pool, connection)

    def __call__(self, name: str, key: str, args: Sequence[Any]) -> Any:
        sha = self.sha[name]
        if self._lock.acquire(blocking=False):
            try:
                return self._fast(sha, key, args)
            except NoScriptError:
                pass
            except _REROUTE:
                self._drop()
            finally:
                self._lock.release()
        try:
            return self.redis.execute_command("EVALSHA", sha, 1, key, *args)
        except NoScriptError:
            self.redis.script_load(self._source[name])
            return self.redis.execute_command("EVALSHA", sha, 1, key, *args)

    def _fast(self, sha: str, key: str, args: Sequence[Any]) -> Any:
        if self._kept is None or self._pid != os.getpid():
            self._take(key)
        assert self._kept is not None
        conn = self._kept[1]
        conn.send_command("EVALSHA", sha, 1, key, *args)
        return conn.read_response()

    def _take(self, key: str) -> None:
        if self._pid != os.getpid():  # forked: the kept socket is the parent's
            self._kept, self._pid = None, os.getpid()
        client = self.redis
        if self._cluster:
            client = client.get_redis_connection(client.get_node_from_key(key))
        pool = client.connection_pool
        try:
            conn = pool.get_connection()
        except TypeError:  # redis-py before 5.3 wants a command name
            conn = pool.get_connection("EVALSHA")
        self._kept = (pool, conn)

    def _drop(self) -> None:
        """Give the kept connection back (closed); the next call takes one afresh."""
        kept, self._kept = self._kept, None
        if kept is not None:
            pool, conn = kept
            try:
                conn.disconnect()
            finally:
                pool.release(conn)
