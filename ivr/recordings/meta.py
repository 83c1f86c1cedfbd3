"""Values: a caller's consent record and a stored recording's metadata (frozen dataclasses).

Two consent types, on purpose.  The flow engine's :class:`ivr.flow.context.Consent` is
the source of truth: what the caller answered, while the call runs (``clip`` is the
front end's own name for the plaintext answer audio).  :class:`Consent` here is the
*record* kept as proof: built from the engine's by :meth:`Consent.of` (the one
conversion), with ``answer_audio`` the id of the encrypted answer clip in this store
(kind ``"consent"``), never a front-end path.  It is kept in the per-call consent log
(:mod:`ivr.recordings.consent_log`), travels with every recording (Redis hash field
``consent``, JSON) and is exported with a citizen's copy.  :meth:`RecordingStore.ingest`
refuses an operator recording without ``granted=True``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any, Literal

from ivr.flow import context as call

ConsentMethod = call.ConsentMethod  # 'voice', 'key' (and 'none': never asked), as the engine says
State = Literal["stored", "purging"]


@dataclass(frozen=True)
class PausedSpan:
    """A part of an operator conversation the operator paused (the citizen dictated a
    passport or card number): silence in the audio.  ``start`` / ``end``: seconds from the
    recording's start (``end`` None: paused to the end of the recording); ``paused_at`` /
    ``resumed_at``: epoch seconds (UTC); who paused and who resumed (console user names).

    The span is what the engine knows for certain: it begins once the telephony said
    the recording was muted and ends when the engine asked for it to go on, so the audio
    is silent over all of it (a little more silence may lie at either edge)."""

    start: float
    end: float | None
    paused_at: float
    resumed_at: float | None
    paused_by: str
    resumed_by: str | None = None

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> PausedSpan:
        end, resumed = data.get("end"), data.get("resumed_at")
        return cls(start=float(data["start"]), end=None if end is None else float(end),
                   paused_at=float(data["paused_at"]), resumed_at=None if resumed is None else float(resumed),
                   paused_by=str(data["paused_by"]), resumed_by=data.get("resumed_by"))


@dataclass(frozen=True)
class Consent:
    granted: bool
    # Epoch seconds (UTC) when the caller answered.
    at: float
    # 'voice' ("да", "согласен" / "нет") or 'key' (DTMF).
    method: ConsentMethod
    # What was recognised: the transcript for voice, the digit for a key.
    recognised: str
    # A reference to the audio of the answer, if it was kept.
    answer_audio: str | None = None
    # Menu language the question was asked in.
    language: str | None = None

    @classmethod
    def of(cls, answer: call.Consent, *, language: str | None, answer_audio: str | None = None) -> Consent:
        """The record of the engine's consent answer (``heard`` becomes ``recognised``)."""
        return cls(
            granted=answer.granted,
            at=answer.at,
            method=answer.method,
            recognised=answer.heard,
            answer_audio=answer_audio,
            language=language,
        )

    def to_json(self) -> str:
        return json.dumps(asdict(self), ensure_ascii=False, sort_keys=True)

    @classmethod
    def from_json(cls, raw: str) -> Consent:
        data = json.loads(raw)
        return cls(
            granted=bool(data["granted"]),
            at=float(data["at"]),
            method=data["method"] if data["method"] in ("voice", "none") else "key",
            recognised=str(data["recognised"]),
            answer_audio=data.get("answer_audio"),
            language=data.get("language"),
        )


@dataclass(frozen=True)
class RecordingMeta:
    id: str
    call_id: str
    consent: Consent
    created: float
    expires: float
    retention_days: int
    size: int
    sha256: str
    key_id: str
    appeal: str | None = None
    operator: str | None = None
    queue: str | None = None
    # 'operator' for the operator conversation; 'consent' for a kept consent answer; 'name'
    # for the caller's spoken name (ivr.recordings.clips; kept without consent to record).
    kind: str = "operator"
    # File name extension of the plaintext audio ('wav', 'mp3', ...), used by exports.
    audio_format: str = "wav"
    # Where the audio came from: 'twilio:RE...' (the Twilio recording SID),
    # 'asterisk:<spool file name>', 'asterisk-clip:<clip file name>'.
    source: str | None = None
    hold: bool = False
    hold_reason: str | None = None
    state: State = "stored"
    # Where the operator paused the recording (ivr.recordings.pauses): silence in the audio.
    paused: tuple[PausedSpan, ...] = ()

    def to_hash(self) -> dict[str, str]:
        out: dict[str, str] = {}
        for name, value in asdict(self).items():
            if value is None:
                continue
            if name == "consent":
                out[name] = self.consent.to_json()
            elif name == "paused":
                if self.paused:
                    out[name] = json.dumps([asdict(span) for span in self.paused], separators=(",", ":"))
            elif isinstance(value, bool):
                out[name] = "1" if value else "0"
            else:
                out[name] = str(value)
        return out

    @classmethod
    def from_hash(cls, raw: Mapping[Any, Any]) -> RecordingMeta:
        h = {_s(k): _s(v) for k, v in raw.items()}
        return cls(
            id=h["id"],
            call_id=h["call_id"],
            consent=Consent.from_json(h["consent"]),
            created=float(h["created"]),
            expires=float(h["expires"]),
            retention_days=int(h["retention_days"]),
            size=int(h["size"]),
            sha256=h["sha256"],
            key_id=h["key_id"],
            appeal=h.get("appeal"),
            operator=h.get("operator"),
            queue=h.get("queue"),
            kind=h.get("kind", "operator"),
            audio_format=h.get("audio_format", "wav"),
            source=h.get("source"),
            hold=h.get("hold") == "1",
            hold_reason=h.get("hold_reason"),
            state="purging" if h.get("state") == "purging" else "stored",
            paused=tuple(PausedSpan.from_dict(d) for d in json.loads(h["paused"])) if h.get("paused") else (),
        )

    def public(self) -> dict[str, Any]:
        """The metadata as plain JSON-able values (for exports)."""
        data = asdict(self)
        data["consent"] = asdict(self.consent)
        data["paused"] = [asdict(span) for span in self.paused]
        return data


def _s(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
