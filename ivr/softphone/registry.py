"""Where each caller's softphone answers: ``{ivr}:softphone:<sha256 of the number>`` -> ``host:port``.

Written when an ``ivr call`` softphone calls in (it says where it answers), read when a
callback to that number is due, in whichever engine process that happens.  The number is
never a key in clear (a hash of its ``+7XXXXXXXXXX`` form); an entry lives ``ttl`` seconds
after the softphone's last call (a closed softphone is simply not reached).
"""

from __future__ import annotations

import hashlib
from typing import Any

from ivr.identity import InvalidIdentity, validate_phone
from routing.keys import Keys

DEFAULT_TTL = 86400


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


class SoftphoneRegistry:
    def __init__(self, *, redis: Any, prefix: str = "ivr", ttl: int = DEFAULT_TTL) -> None:
        self.redis = redis
        self.tag = Keys(prefix).tag
        self.ttl = ttl

    def key(self, number: str) -> str | None:
        """STRING: the line of the softphone answering ``number``; None for no valid number."""
        try:
            phone = validate_phone(number)
        except InvalidIdentity:
            return None
        return f"{self.tag}:softphone:{hashlib.sha256(phone.encode()).hexdigest()}"

    def register(self, number: str, contact: tuple[str, int]) -> bool:
        key = self.key(number)
        if key is None:
            return False
        self.redis.set(key, f"{contact[0]}:{contact[1]}", ex=self.ttl)
        return True

    def contact(self, number: str) -> tuple[str, int] | None:
        key = self.key(number)
        raw = self.redis.get(key) if key is not None else None
        if not raw:
            return None
        host, _, port = _text(raw).rpartition(":")
        return host, int(port)
