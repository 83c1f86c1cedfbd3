"""Leases in Redis: a key set, if absent, to a random token with an expiry, and deleted only
by the holder of that token (a lease that expired and was taken by another process is not
its to delete).  The recordings purge, the ingest of one recording and a Twilio call's
webhooks each hold one."""

from __future__ import annotations

import secrets
from typing import Any

_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


class Leases:
    """Taking and releasing leases on one Redis client."""

    def __init__(self, redis: Any) -> None:
        self.redis = redis
        self._release = redis.register_script(_RELEASE)

    def take(self, key: str, seconds: float, token: str | None = None) -> str | None:
        """The lease on ``key`` for ``seconds``: its token, or None when another holds it."""
        token = token or secrets.token_hex(8)
        return token if self.redis.set(key, token, nx=True, px=int(seconds * 1000)) else None

    @staticmethod
    def take_in(pipeline: Any, key: str, seconds: float) -> str:
        """Queue taking the lease on ``key`` in ``pipeline`` (with what else is read in the
        same round trip); the token, which holds the lease if that command's reply is true."""
        token = secrets.token_hex(8)
        pipeline.set(key, token, nx=True, px=int(seconds * 1000))
        return token

    def release(self, key: str, token: str) -> None:
        """Give the lease back, if ``token`` still holds it."""
        self._release(keys=[key], args=[token])
