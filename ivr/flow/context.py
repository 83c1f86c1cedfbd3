"""The call context: everything the voice menu learned, as one frozen value.

It travels with the call from the first prompt to the operator's screen-pop, and
between Twilio webhooks it is stored as JSON (``to_json``/``from_json``).
ИНН, СНИЛС and the name are personal data: ``masked()`` gives the view for logs.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from typing import Any, Literal

from ivr.flow.values import evolve

ConsentMethod = Literal["voice", "key", "none"]
# Whether the operator conversation is recorded, as the operator's screen shows it.
RecordingState = Literal["recording", "no_consent", "no_key", "no_recorder"]
StepExit = Literal[
    "key", "speech", "done", "timeout", "no_match", "invalid", "confirmed", "corrected",
    "fallback", "hangup", "queued", "connected", "transferred", "callback", "closed", "open",
    "default",
]


@dataclass(frozen=True)
class SpokenName:
    text: str | None  # normalised ФИО, None when not recognised
    confidence: float
    clip: str | None  # the caller's own spoken-name clip, for the operator to play
    # False: only recorded, nothing tried to recognise it (no recogniser on the call): the
    # operator listens to the clip; "not recognised, 0 %" would be untrue.
    recognised: bool = True


@dataclass(frozen=True)
class Consent:
    granted: bool
    at: float
    method: ConsentMethod
    heard: str = ""  # what the recogniser heard ("да", "согласен") or the key pressed
    clip: str | None = None


@dataclass(frozen=True)
class Recording:
    """What the operator's screen says about recording: ``{"state": "no_consent"}``.

    ``recording``: the caller consented and the engine can keep recordings;
    ``no_consent``: the caller refused or was never asked (nothing is recorded);
    ``no_key``: the engine cannot keep recordings (no recording key, or a front end that
    does not record): nothing is recorded, the consent question is not asked, and the
    engine said so at start-up;
    ``no_recorder``: the caller consented and the engine has a key, but nothing on the line
    carries the conversation to a recorder (the ``ivr call`` terminal softphone): the menu
    asks as it does everywhere, and the operator is not told that a recording goes on.
    """

    state: RecordingState


def recording_for(consent: Consent | None, *, can_record: bool, recorder: bool = True) -> Recording:
    """The one rule: record only with a granted consent, a key to store it with and a
    recorder on the line (``recorder`` false: the terminal softphone's, which has none)."""
    if not can_record:
        return Recording("no_key")
    if consent is None or not consent.granted:
        return Recording("no_consent")
    return Recording("recording" if recorder else "no_recorder")


@dataclass(frozen=True)
class Step:
    """One visit to a menu node: when, how the caller left it, what went wrong."""

    node: str
    entered: float
    left: float | None = None
    exit: StepExit | None = None
    detail: str = ""  # the key pressed, the failure reason ("checksum", "length")
    attempts: int = 0
    failures: tuple[str, ...] = ()


@dataclass(frozen=True)
class CallContext:
    call_id: str
    caller: str
    dialled: str
    started: float
    language: str = "ru"
    channel: str = "asterisk"
    appeal: str | None = None
    name: SpokenName | None = None
    inn: str | None = None
    snils: str | None = None
    identity_confirmed: bool = False
    topic: str | None = None
    queue: str | None = None
    skills: tuple[str, ...] = ()
    priority: int = 0
    consent: Consent | None = None
    recording: Recording | None = None  # None: a context stored before this field existed
    callback_number: str | None = None
    looked_up: str | None = None  # an appeal number the caller asked about
    looked_up_status: str | None = None
    appeals_not_found: int = 0  # appeal numbers looked up in this call and not found (or not the caller's)
    path: tuple[Step, ...] = ()
    outcome: str | None = None  # queued, connected, callback, transferred, hangup, abandoned
    menu_version: int = 0

    # -- the path ------------------------------------------------------------------

    def enter(self, node: str, at: float) -> CallContext:
        return evolve(self, path=(*self.path, Step(node=node, entered=at)))

    def leave(self, exit: StepExit, at: float, detail: str = "") -> CallContext:
        if not self.path or self.path[-1].left is not None:
            return self
        last = evolve(self.path[-1], left=at, exit=exit, detail=detail)
        return evolve(self, path=(*self.path[:-1], last))

    def fail(self, reason: str) -> CallContext:
        if not self.path:
            return self
        last = self.path[-1]
        last = evolve(last, attempts=last.attempts + 1, failures=(*last.failures, reason))
        return evolve(self, path=(*self.path[:-1], last))

    @property
    def node(self) -> str | None:
        return self.path[-1].node if self.path else None

    # -- views -----------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        """As ``dataclasses.asdict`` (tuples stay tuples), without its deep copies: the
        values are immutable, and this runs for every call that joins a queue."""
        return _plain(self)  # type: ignore[no-any-return]

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), ensure_ascii=False, separators=(",", ":"))

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> CallContext:
        data = dict(data)
        if data.get("name") is not None:
            data["name"] = SpokenName(**data["name"])
        if data.get("consent") is not None:
            data["consent"] = Consent(**data["consent"])
        if data.get("recording") is not None:
            data["recording"] = Recording(**data["recording"])
        data["path"] = tuple(
            Step(**{**step, "failures": tuple(step.get("failures", ()))}) for step in data.get("path", ())
        )
        data["skills"] = tuple(data.get("skills", ()))
        return cls(**data)

    @classmethod
    def from_json(cls, text: str) -> CallContext:
        return cls.from_dict(json.loads(text))

    def masked(self) -> dict[str, Any]:
        """The context with personal data masked: for logs and unauthorised views."""
        from ivr.identity import mask_inn, mask_name, mask_phone, mask_snils

        data = self.to_dict()
        data["caller"] = mask_phone(self.caller) if self.caller else self.caller
        data["inn"] = mask_inn(self.inn) if self.inn else None
        data["snils"] = mask_snils(self.snils) if self.snils else None
        data["callback_number"] = mask_phone(self.callback_number) if self.callback_number else None
        if self.name is not None and self.name.text:
            data["name"] = {**data["name"], "text": mask_name(self.name.text)}
        return data


_FIELDS: dict[type, tuple[str, ...]] = {}


def _plain(value: Any) -> Any:
    """Dataclasses to dicts, recursively; tuples, lists and dicts rebuilt, the rest as is."""
    kind = type(value)
    if kind in (str, int, float, bool) or value is None:
        return value
    names = _FIELDS.get(kind)
    if names is None and dataclasses.is_dataclass(value) and not isinstance(value, type):
        names = _FIELDS[kind] = tuple(f.name for f in dataclasses.fields(value))
    if names is not None:
        return {name: _plain(getattr(value, name)) for name in names}
    if isinstance(value, (tuple, list)):
        return type(value)(_plain(x) for x in value)
    if isinstance(value, dict):
        return {_plain(k): _plain(v) for k, v in value.items()}
    return value
