"""Who the citizen is, as the data knows them, and everything kept of them.

A citizen is found by one document or number they give the auditor: a ИНН, a СНИЛС or the
phone number they called from.  Redis keeps none of these, only their keyed hashes
(:mod:`ivr.identity.pseudonym`), so the given value is validated, hashed with the engine's
identity key and looked up: the appeals that carry that hash (:meth:`AppealBook.held_by`), the
calls of those appeals (the call log), the recordings of those calls or appeals (the store's
index).  Nothing here returns or logs the value itself.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from typing import Any, Literal

from ivr.call.calllog import CallLog
from ivr.identity import (
    InvalidIdentity,
    mask_inn,
    mask_phone,
    mask_snils,
    validate_inn,
    validate_phone,
    validate_snils,
)
from ivr.identity.pseudonym import IdentityHasher
from ivr.recordings.meta import RecordingMeta
from ivr.recordings.store import RecordingStore
from ivr.subject_access.errors import BadIdentity
from routing.appeals import Appeal, AppealBook

Kind = Literal["inn", "snils", "phone"]
KINDS: tuple[Kind, ...] = ("inn", "snils", "phone")


@dataclass(frozen=True, repr=False)
class Subject:
    """The citizen as the data knows them: a keyed hash, and the masked value for the summary."""

    kind: Kind
    key: str
    masked: str

    def __repr__(self) -> str:
        return f"Subject({self.kind}, {self.masked})"

    @property
    def reference(self) -> str:
        """What the audit may say of whom the request was about: the kind and a hash prefix."""
        return f"{self.kind} {self.key.split(':', 1)[-1][:12]}"


def subject(kind: str, value: str, hasher: IdentityHasher) -> Subject:
    """Raises :class:`BadIdentity` (never quoting the value)."""
    try:
        if kind == "inn":
            digits = validate_inn(value)
            return Subject("inn", hasher.key_of("inn", digits), mask_inn(digits))
        if kind == "snils":
            (key,) = hasher.documents(inn=None, snils=validate_snils(value))
            return Subject("snils", key, mask_snils(validate_snils(value)))
        if kind == "phone":
            number = validate_phone(value)
            return Subject("phone", hasher.phone(number), mask_phone(number))
    except InvalidIdentity as exc:
        raise BadIdentity(f"not a valid {kind}: {exc.reason}", kind=kind, reason=exc.reason) from None
    raise BadIdentity(f"identify the citizen by one of {', '.join(KINDS)}", kind=kind, reason="kind")


@dataclass(frozen=True)
class Findings:
    subject: Subject
    appeals: tuple[Appeal, ...]
    history: dict[str, list[dict[str, Any]]]
    calls: tuple[dict[str, Any], ...]
    recordings: tuple[RecordingMeta, ...]
    numbers: frozenset[str] = field(default_factory=frozenset)


class SubjectFinder:
    def __init__(self, *, appeals: AppealBook, store: RecordingStore, call_log: CallLog) -> None:
        self.appeals = appeals
        self.store = store
        self.call_log = call_log

    def subject(self, kind: str, value: str) -> Subject:
        return subject(kind, value, self.appeals.identity)

    def find(self, who: Subject) -> Findings:
        appeals = tuple(self.appeals.held_by([who.key]))
        numbers = frozenset(a.number for a in appeals)
        recordings = tuple(m for m in self.store.list(limit=sys.maxsize) if m.appeal in numbers)
        call_ids = {m.call_id for m in recordings}
        calls = tuple(sorted((c for c in self.call_log.recent(self.call_log.keep)
                              if c.get("appeal") in numbers or c.get("call") in call_ids),
                             key=lambda c: float(c.get("started") or 0)))
        call_ids |= {str(c["call"]) for c in calls}
        recordings = tuple(m for m in self.store.list(limit=sys.maxsize)
                           if m.appeal in numbers or m.call_id in call_ids)
        return Findings(subject=who, appeals=appeals, history={a.number: self.appeals.history(a.number)
                                                               for a in appeals},
                        calls=calls, recordings=recordings, numbers=numbers)
