"""The routing Lua scripts: ``lib.lua`` is prepended to each, then registered once.

``register_script`` keeps the SHA and reloads the script after ``NOSCRIPT`` (a Redis
restart), and works on Redis Cluster because every key a script touches shares the
hash tag of ``KEYS[1]``.
"""

from __future__ import annotations

from importlib import resources
from typing import Any

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
)


def source(name: str) -> str:
    files = resources.files(__name__)
    return files.joinpath("lib.lua").read_text() + "\n" + files.joinpath(f"{name}.lua").read_text()


def register(redis: Any, names: tuple[str, ...] = NAMES) -> dict[str, Any]:
    return {name: redis.register_script(source(name)) for name in names}
