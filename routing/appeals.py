"""The appeals registry (номера обращений) in Redis.

Every call gets an appeal number the caller hears and can quote next time: ten
digits, a random nine-digit payload and a Luhn check digit, so a mistyped digit is
caught at entry.

Minting.  A number and its record come into being together (:meth:`AppealBook.allocate`,
one script: the record is written only if the number is free, else another random
number is drawn), when the call starts and before anything can say it: whatever path
the call then takes (self-service, a hang-up, the queue, a callback), every number
said is in the book.  The payload is ``secrets.randbelow`` over 10^9, not a counter or
a keyed permutation of one: nothing to keep secret or stable across engines and
restarts, and the collision check is the same atomic write.  Two numbers in a row say
nothing about each other; a guess hits an appeal with odds (appeals kept) / 10^9.

Opening.  The call's topic and identity keys are filled in when it joins a queue
(the enqueue script, which also indexes them for the repeat-caller boost) or, for a
call that never queued, when it ends (:meth:`AppealBook.settle`, no index).

Status.  :meth:`AppealBook.status_for` tells an appeal only to a holder: one of the
caller's document keys (ИНН, СНИЛС; the same opaque keys as the call's identity keys,
never the numbers) must be among the appeal's.  No match and no such number are the
same answer, ``None`` (seed 000: «требуется номер заявки и подтверждающий документ»).

An appeal is unresolved until it is approved, rejected or completed; a caller with an
unresolved appeal opened within ``repeat_window_days`` is a repeat caller and gets a
priority boost (checked by the enqueue script itself, in the same round trip:
``routing/scripts/enqueue.lua``).
"""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, Literal

from ivr.identity import InvalidIdentity, make_appeal_number, validate_appeal_number
from ivr.identity.appeal import MAX_SEQUENCE
from ivr.identity.pseudonym import MIN_KEY_BYTES, IdentityHasher
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
#: Identity keys that are documents a caller can quote (``tel:`` is the caller id, not one).
DOCUMENT_KINDS = ("inn:", "snils:")
MINT_TRIES = 8  # random draws before giving up: a full book, or a broken random source


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
        self,
        *,
        redis: Any,
        prefix: str = "ivr",
        clock: Callable[[], float] = time.time,
        draw: Callable[[int], int] = secrets.randbelow,
        identity: IdentityHasher | None = None,
    ) -> None:
        """``draw(n)``: a random integer in ``[0, n)`` for a new number's payload (tests
        pass their own to force a collision).  ``identity``: how callers' documents become
        the identity keys kept on appeals (the engine's; see :func:`identity_key`)."""
        self.redis = redis
        self.keys = Keys(prefix)
        self.clock = clock
        self._scripts = Scripts(redis, ("appeal",))
        self._draw = draw
        self._identity = identity

    @property
    def identity(self) -> IdentityHasher:
        if self._identity is None:
            raise InvalidAppeal("this appeal book was built without an identity key")
        return self._identity

    def allocate(self, at: float | None = None) -> str:
        """A new appeal number, its record already in the book ("accepted", not opened)."""
        when = self.clock() if at is None else at
        entry = json.dumps({"at": when, "status": "accepted"})
        for _ in range(MINT_TRIES):
            number = make_appeal_number(1 + self._draw(MAX_SEQUENCE))
            if self._run(when, "mint", number, entry) == "ok":
                return number
        raise InvalidAppeal(f"no free appeal number after {MINT_TRIES} draws", tries=MINT_TRIES)

    def _run(self, at: float, *args: str) -> str:
        # The arguments every script takes first (the settings are unused here).
        common = (self.keys.tag, repr(at), "")
        return _text(self._scripts("appeal", self.keys.events, (*common, *args))[0])

    def open(
        self, appeal_number: str, identity_keys: Iterable[str], topic: str, at: float | None = None
    ) -> Appeal:
        """Open an appeal (a new one, or one minted and not opened yet); :class:`InvalidAppeal`
        if it was opened before or the number is malformed.  (A call's own appeal is opened
        by ``Router.enqueue``, in the same script.)"""
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

    def settle(self, appeal_number: str, identity_keys: Iterable[str], topic: str) -> None:
        """A call that ended without joining a queue: its minted appeal takes the call's
        topic and identity keys (so its holder can ask for its status), unless it was
        opened already.  Not indexed for the repeat-caller boost."""
        require_number(appeal_number)
        when = self.clock()
        self._run(when, "settle", appeal_number, topic, json.dumps(list(identity_keys)))

    def status_for(self, appeal_number: str, holder_keys: Iterable[str]) -> Appeal | None:
        """The appeal, if one of ``holder_keys`` (the caller's document keys) is among its
        identity keys; ``None`` otherwise, exactly as for a number that does not exist."""
        if not is_valid_number(appeal_number):
            return None
        appeal = self.get(appeal_number)
        if appeal is None:
            return None
        documents = {key for key in appeal.identity_keys if key.startswith(DOCUMENT_KINDS)}
        return appeal if documents.intersection(holder_keys) else None

    def get(self, appeal_number: str) -> Appeal | None:
        raw = self.redis.hgetall(self.keys.appeal(appeal_number))
        return _appeal(raw) if raw else None

    def held_by(self, identity_keys: Iterable[str]) -> list[Appeal]:
        """Every appeal one of ``identity_keys`` is among the identity keys of, oldest first:
        a citizen's request for a copy of their data.  The index (``appeals_of``) knows the
        appeals of calls that queued; a call that ended in the menu settled its appeal
        unindexed, so the book is scanned too (a rare request, not a call's path)."""
        wanted = set(identity_keys)
        numbers: set[str] = set()
        for key in wanted:
            numbers.update(_text(n) for n in self.redis.zrange(self.keys.appeals_of(key), 0, -1))
        suffix = ":log"
        for raw_key in self.redis.scan_iter(match=self.keys.appeal("*"), count=1000):
            key = _text(raw_key)
            if not key.endswith(suffix):
                numbers.add(key.rsplit(":", 1)[1])
        found = [a for a in (self.get(n) for n in numbers if is_valid_number(n))
                 if a is not None and wanted & set(a.identity_keys)]
        return sorted(found, key=lambda a: (a.opened_at, a.number))

    def history(self, appeal_number: str) -> list[dict[str, Any]]:
        return [
            json.loads(x) for x in self.redis.lrange(self.keys.appeal_log(appeal_number), 0, -1)
        ]


def identity_key(redis: Any, *, prefix: str = "ivr", given: str | None = None) -> tuple[IdentityHasher, str]:
    """The identity key (``IVR_IDENTITY_KEY`` as ``given``) and a line for the start-up log.

    Without one, a random key is made once and kept in Redis (``SET NX``: every engine on
    this Redis uses the same), so matching works from the first run; but it sits beside
    the hashes it protects, and the log says so.
    """
    if given:
        if len(given.encode()) < MIN_KEY_BYTES:
            raise ValueError(f"IVR_IDENTITY_KEY must have at least {MIN_KEY_BYTES} characters")
        return IdentityHasher(given.encode()), "identity keys: hashed with IVR_IDENTITY_KEY"
    keys = Keys(prefix)
    redis.set(keys.identity_key, secrets.token_hex(32), nx=True)
    kept = _text(redis.get(keys.identity_key))
    return IdentityHasher(kept.encode()), (
        "identity keys: IVR_IDENTITY_KEY is not set; ИНН, СНИЛС and callers' numbers are hashed with a key "
        "kept in Redis beside them (set IVR_IDENTITY_KEY so that a copy of Redis alone cannot reverse them)")


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _appeal(raw: dict[Any, Any]) -> Appeal:
    d = {_text(k): _text(v) for k, v in raw.items()}
    return Appeal(
        number=d["number"],
        topic=d.get("topic", ""),
        status=d["status"],
        opened_at=float(d["opened_at"]),
        updated_at=float(d["updated_at"]),
        identity_keys=tuple(json.loads(d.get("identity") or "[]")),
    )
