"""What a Twilio webhook posts, checked before anything else happens.

A typical request (``application/x-www-form-urlencoded``)::

    POST /twilio/gather?step=3
    CallSid=CA0123456789abcdef0123456789abcdef&AccountSid=AC...&From=%2B79161234567
    &To=%2B78005553535&CallStatus=in-progress&Digits=1

Each function takes the parsed form (or query) and returns a value, or raises
:class:`WebhookRejected` with a 400 and a message naming the parameter, never
echoing its value (it may be personal data).
"""

from __future__ import annotations

import email.utils
import re
from collections.abc import Mapping
from dataclasses import dataclass

from ivr.twilio.errors import WebhookRejected

MAX_BODY = 64 * 1024  # Twilio's webhooks are a few kilobytes
MAX_VALUE = 2048  # any single parameter
MAX_SPEECH = 1000  # SpeechResult, in characters

CALL_SID = re.compile(r"^CA[0-9a-f]{32}$")
RECORDING_SID = re.compile(r"^RE[0-9a-f]{32}$")
DIGITS = re.compile(r"^[0-9*#]{0,64}$")
ADDRESS = re.compile(r"^[\w+:@.\-]{0,128}$")  # +79161234567, client:alice, sip:a@b, anonymous
STEP = re.compile(r"^[0-9]{1,6}$")
DURATION = re.compile(r"^-?[0-9]{1,9}$")
CLIP = re.compile(r"^[\w.\-]{1,100}$")
CALLBACK_ID = re.compile(r"^[\w\-]{1,64}$")
ENDED_STATUSES = frozenset({"completed", "busy", "no-answer", "failed", "canceled"})
CALL_STATUSES = ENDED_STATUSES | {"queued", "initiated", "ringing", "in-progress", "answered"}
# <Dial action>'s DialCallStatus: "completed" (they talked), "answered" (Twilio's word for a
# bridged call ended from the caller's side on some accounts), or why nobody talked.
DIAL_STATUSES = frozenset({"completed", "answered", "busy", "no-answer", "failed", "canceled"})
OPERATOR_ID = re.compile(r"^[\w.\-]{1,64}$")
CONFERENCE_SID = re.compile(r"^CF[0-9a-f]{32}$")
# A conference's status callback: StatusCallbackEvent (participant-speech-start and the
# like are not asked for, and are refused).
CONFERENCE_EVENTS = frozenset({"conference-start", "conference-end", "participant-join", "participant-leave",
                               "participant-hold", "participant-unhold", "participant-mute",
                               "participant-unmute", "participant-modify", "conference-record-start"})


def _reject(message: str) -> WebhookRejected:
    return WebhookRejected(400, message)


def check_lengths(form: Mapping[str, str]) -> None:
    for name, value in form.items():
        if len(name) > 64:
            raise _reject("a parameter name is too long")
        if len(value) > MAX_VALUE:
            raise _reject(f"parameter {name[:64]} is too long (over {MAX_VALUE} characters)")


def call_sid(form: Mapping[str, str]) -> str:
    value = form.get("CallSid")
    if not value:
        raise _reject("CallSid is missing")
    if not CALL_SID.match(value):
        raise _reject("CallSid is not a Twilio call SID (CA + 32 hex digits)")
    return value


def step(query: Mapping[str, str]) -> int:
    value = query.get("step", "")
    if not STEP.match(value):
        raise _reject("step is missing or not a number")
    return int(value)


def address(form: Mapping[str, str], name: str) -> str:
    value = form.get(name, "")
    if not ADDRESS.match(value):
        raise _reject(f"{name} is not a phone number or a Twilio address")
    return value


def digits(form: Mapping[str, str]) -> str | None:
    if "Digits" not in form:
        return None
    value = form["Digits"]
    if not DIGITS.match(value):
        raise _reject("Digits may hold only 0-9, * and # (at most 64 keys)")
    return value


@dataclass(frozen=True)
class Speech:
    text: str
    confidence: float


def speech(form: Mapping[str, str]) -> Speech | None:
    text = form.get("SpeechResult")
    if text is None:
        return None
    if len(text) > MAX_SPEECH:
        raise _reject(f"SpeechResult is too long (over {MAX_SPEECH} characters)")
    raw = form.get("Confidence", "0")
    try:
        confidence = float(raw)
    except ValueError:
        raise _reject("Confidence is not a number") from None
    if not 0.0 <= confidence <= 1.0:
        raise _reject("Confidence must be between 0 and 1")
    return Speech(text.strip(), confidence)


def dial_status(form: Mapping[str, str]) -> str:
    """``DialCallStatus`` of a ``<Dial action>`` request."""
    value = form.get("DialCallStatus", "")
    if value not in DIAL_STATUSES:
        raise _reject("DialCallStatus is missing or unknown")
    return value


def parent_call_sid(form: Mapping[str, str]) -> str:
    """``ParentCallSid`` of an operator leg's status callback: the caller's call."""
    value = form.get("ParentCallSid", "")
    if not CALL_SID.match(value):
        raise _reject("ParentCallSid is missing or malformed")
    return value


def operator_id(query: Mapping[str, str]) -> str:
    value = query.get("operator", "")
    if not OPERATOR_ID.match(value):
        raise _reject("operator is missing or malformed")
    return value


def call_status(form: Mapping[str, str]) -> str:
    value = form.get("CallStatus", "")
    if value not in CALL_STATUSES:
        raise _reject("CallStatus is missing or unknown")
    return value


def clip(query: Mapping[str, str]) -> str:
    value = query.get("clip", "")
    if not CLIP.match(value):
        raise _reject("clip is missing or malformed")
    return value


@dataclass(frozen=True)
class RecordingInfo:
    sid: str | None
    url: str | None
    duration: int
    started: float | None = None  # RecordingStartTime (epoch seconds), where Twilio sends it


def recording(form: Mapping[str, str]) -> RecordingInfo:
    sid = form.get("RecordingSid") or None
    if sid is not None and not RECORDING_SID.match(sid):
        raise _reject("RecordingSid is not a Twilio recording SID (RE + 32 hex digits)")
    url = form.get("RecordingUrl") or None
    if url is not None and not url.startswith("https://"):
        raise _reject("RecordingUrl must be an https URL")
    raw = form.get("RecordingDuration", "0") or "0"
    if not DURATION.match(raw):  # ASCII: str.isdigit() takes "²", which int() refuses (a 500)
        raise _reject("RecordingDuration is not a number")
    return RecordingInfo(sid, url, int(raw), _start_time(form.get("RecordingStartTime", "")))


def _start_time(raw: str) -> float | None:
    """``RecordingStartTime``: an RFC 2822 date (``Mon, 07 Dec 2026 00:45:04 +0000``)."""
    if not raw:
        return None
    try:
        when = email.utils.parsedate_to_datetime(raw)
    except (TypeError, ValueError, IndexError):
        raise _reject("RecordingStartTime is not an RFC 2822 date") from None
    if when.tzinfo is None:
        raise _reject("RecordingStartTime has no time zone")
    return when.timestamp()


def caller_of(query: Mapping[str, str]) -> str:
    """``call`` in a URL the engine gave Twilio: the caller's CallSid."""
    value = query.get("call", "")
    if not CALL_SID.match(value):
        raise _reject("call is missing or not a Twilio call SID")
    return value


@dataclass(frozen=True)
class ConferenceEvent:
    event: str
    conference_sid: str
    participant: str | None  # the CallSid of who joined or left


def conference_event(form: Mapping[str, str]) -> ConferenceEvent:
    """A conference's status callback::

        ConferenceSid=CF...&FriendlyName=hotline-CA...&StatusCallbackEvent=participant-join
        &CallSid=CA...&Muted=false&Hold=false&Coaching=false&SequenceNumber=2
    """
    event = form.get("StatusCallbackEvent", "")
    if event not in CONFERENCE_EVENTS:
        raise _reject("StatusCallbackEvent is missing or unknown")
    sid = form.get("ConferenceSid", "")
    if not CONFERENCE_SID.match(sid):
        raise _reject("ConferenceSid is missing or not a Twilio conference SID")
    participant = form.get("CallSid") or None
    if participant is not None and not CALL_SID.match(participant):
        raise _reject("CallSid is not a Twilio call SID (CA + 32 hex digits)")
    return ConferenceEvent(event, sid, participant)


def callback_id(value: str) -> str:
    if not CALLBACK_ID.match(value):
        raise _reject("the callback id is malformed")
    return value
