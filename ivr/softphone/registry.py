"""Where each caller's softphone answers: ``{ivr}:softphone:<sha256 of the number>`` -> ``host:port``,
and each softphone call's line: ``{ivr}:softphone:call:<call id>`` -> ``host:port``.

Written when an ``ivr call`` softphone calls in (it says where it answers), read when a
callback to that number is due, or when the operator a call was handed to did not answer
(the softphone is told so, and dials in again), in whichever engine process that happens.
The number is never a key in clear (a hash of its ``+7XXXXXXXXXX`` form); an entry lives
``ttl`` seconds after the softphone's last call (a closed softphone is simply not reached).
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
        return _contact(self.redis.get(key) if key is not None else None)

    def call_key(self, call_id: str) -> str:
        """STRING: the line of the softphone that placed call ``call_id``."""
        return f"{self.tag}:softphone:call:{call_id}"

    def register_call(self, call_id: str, contact: tuple[str, int]) -> None:
        if call_id:
            self.redis.set(self.call_key(call_id), f"{contact[0]}:{contact[1]}", ex=self.ttl)

    def call_contact(self, call_id: str) -> tuple[str, int] | None:
        return _contact(self.redis.get(self.call_key(call_id)) if call_id else None)


def _contact(raw: Any) -> tuple[str, int] | None:
    if not raw:
        return None
    host, _, port = _text(raw).rpartition(":")
    return host, int(port)
