"""The appeals registry (номера обращений) in Redis.

Every call gets an appeal number the caller hears and can quote next time: ten
digits, a nine-digit zero-padded sequence (Redis ``INCR``) and a Luhn check digit,
so a mistyped digit is caught at entry.  An appeal is unresolved until it is
approved, rejected or completed; a caller with an unresolved appeal opened within
``repeat_window_days`` is a repeat caller and gets a priority boost (checked by the
enqueue script itself, in the same round trip: ``routing/scripts/enqueue.lua``).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, Literal

from ivr.identity import InvalidIdentity, make_appeal_number, validate_appeal_number
from routing.errors import InvalidAppeal
from routing.keys import Keys
from routing.scripts import Scripts

AppealStatus = Literal[
    "accepted", "in_progress", "awaiting_documents", "approved", "rejected", "completed"
]

#: Statuses and what the caller hears.
STATUS_NAMES: dict[str, str] = {
    "accepted": "Принято",
    "in_progress": "В обработке",
    "awaiting_documents": "Ожидание документов",
    "approved": "Одобрено",
    "rejected": "Отклонено",
    "completed": "Завершено",
}
RESOLVED = frozenset({"approved", "rejected", "completed"})


def is_valid_number(number: str) -> bool:
    """Ten digits with a good Luhn check digit (the numbers ``allocate`` issues)."""
    try:
        return validate_appeal_number(number) == number
    except InvalidIdentity:
        return False


def require_number(number: str) -> None:
    """:class:`InvalidAppeal` unless ``number`` is a well-formed appeal number."""
    if not is_valid_number(number):
        raise InvalidAppeal(f"not an appeal number: {number!r}", number=number)


@dataclass(frozen=True)
class Appeal:
    number: str
    topic: str
    status: str
    opened_at: float
    updated_at: float
    identity_keys: tuple[str, ...]

    @property
    def resolved(self) -> bool:
        return self.status in RESOLVED

    @property
    def status_name(self) -> str:
        return STATUS_NAMES[self.status]


class AppealBook:
    def __init__(
        self, *, redis: Any, prefix: str = "ivr", clock: Callable[[], float] = time.time
    ) -> None:
        self.redis = redis
        self.keys = Keys(prefix)
        self.clock = clock
        self._scripts = Scripts(redis, ("appeal",))

    def allocate(self) -> str:
        seq = int(self.redis.incr(self.keys.appeal_sequence))
        if seq >= 10**9:
            raise InvalidAppeal("appeal numbers exhausted", sequence=seq)
        return make_appeal_number(seq)

    def _run(self, at: float, *args: str) -> str:
        # The arguments every script takes first (the settings are unused here).
        common = (self.keys.tag, repr(at), "")
        return _text(self._scripts("appeal", self.keys.events, (*common, *args))[0])

    def open(
        self, appeal_number: str, identity_keys: Iterable[str], topic: str, at: float | None = None
    ) -> Appeal:
        """Open a new appeal; :class:`InvalidAppeal` if the number is taken or malformed.
        (A call's own appeal is opened by ``Router.enqueue``, in the same script.)"""
        require_number(appeal_number)
        when = self.clock() if at is None else at
        idents = list(identity_keys)
        entry = json.dumps({"at": when, "status": "accepted"})
        if self._run(when, "open", appeal_number, topic, json.dumps(idents), entry) == "exists":
            raise InvalidAppeal(f"appeal {appeal_number} already exists", number=appeal_number)
        return Appeal(appeal_number, topic, "accepted", when, when, tuple(idents))

    def set_status(
        self,
        appeal_number: str,
        status: str,
        *,
        operator: str,
        note: str = "",
        at: float | None = None,
    ) -> Appeal:
        if status not in STATUS_NAMES:
            raise InvalidAppeal(f"unknown appeal status {status!r}", status=status)
        when = self.clock() if at is None else at
        entry = json.dumps({"at": when, "status": status, "operator": operator, "note": note})
        if self._run(when, "status", appeal_number, status, entry) == "unknown":
            raise InvalidAppeal(f"no such appeal: {appeal_number}", number=appeal_number)
        appeal = self.get(appeal_number)
        assert appeal is not None
        return appeal

    def get(self, appeal_number: str) -> Appeal | None:
        raw = self.redis.hgetall(self.keys.appeal(appeal_number))
        return _appeal(raw) if raw else None

    def history(self, appeal_number: str) -> list[dict[str, Any]]:
        return [
            json.loads(x) for x in self.redis.lrange(self.keys.appeal_log(appeal_number), 0, -1)
        ]


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _appeal(raw: dict[Any, Any]) -> Appeal:
    d = {_text(k): _text(v) for k, v in raw.items()}
    return Appeal(
        number=d["number"],
        topic=d["topic"],
        status=d["status"],
        opened_at=float(d["opened_at"]),
        updated_at=float(d["updated_at"]),
        identity_keys=tuple(json.loads(d["identity"])),
    )
