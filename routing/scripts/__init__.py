"""The routing Lua scripts: ``lib.lua`` is prepended to each, then loaded once.

:class:`Scripts` runs them with ``EVALSHA`` straight away (no ``SCRIPT EXISTS`` or
``SCRIPT LOAD`` per call) and loads a script only after ``NOSCRIPT`` (a Redis restart or
failover wiped the cache).  On Redis Cluster the call is routed by ``KEYS[1]``; every key
a script touches shares its hash tag.

Arguments every script takes first (see ``lib.lua``): key tag, now, stats day,
reservation s, wrap-up s, events kept, default handle s, queues closed now.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from importlib import resources
from typing import Any

from redis.exceptions import NoScriptError

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

    def __call__(self, name: str, key: str, args: Sequence[Any]) -> Any:
        sha = self.sha[name]
        try:
            return self.redis.execute_command("EVALSHA", sha, 1, key, *args)
        except NoScriptError:
            self.redis.script_load(self._source[name])
            return self.redis.execute_command("EVALSHA", sha, 1, key, *args)


def register(redis: Any, names: Sequence[str] = NAMES) -> Scripts:
    return Scripts(redis, names)
