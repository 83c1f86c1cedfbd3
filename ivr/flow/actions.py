"""What the flow engine asks a front end (or the call runner) to do.

Media actions are carried out by the telephony front end, in order.  A list of
actions ends with at most one action that waits for the caller (a ``Collect...``,
``Record`` or ``HoldMusic``); a key pressed during an earlier ``Play`` with
``barge_in`` goes straight to that waiting action, as its first key.

Service actions (``Enqueue``, ``LookupAppeal``, ``BookCallback``, ``PollQueue``)
are carried out by the call runner against the routing engine; each answers with
an event.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from ivr.flow.context import CallContext

SpeechMode = Literal["yes_no", "keywords", "digits", "name"]


@dataclass(frozen=True)
class Play:
    prompt: str  # a prompt id from prompts/<language>.yaml
    language: str
    barge_in: bool = True


@dataclass(frozen=True)
class SayDigits:
    digits: str
    language: str


@dataclass(frozen=True)
class SayNumber:
    number: int
    language: str


@dataclass(frozen=True)
class CollectDigits:
    prompts: tuple[Play | SayDigits | SayNumber, ...]
    min_digits: int
    max_digits: int
    timeout: float  # seconds to the first key
    inter_digit_timeout: float
    terminator: str = "#"
    keys: str = "0123456789*#"  # keys that count; others are ignored


@dataclass(frozen=True)
class CollectSpeech:
    prompts: tuple[Play | SayDigits | SayNumber, ...]
    mode: SpeechMode
    language: str
    timeout: float
    max_seconds: float
    grammar: tuple[str, ...] = ()  # words to listen for; empty: free speech
    keys: str = ""  # keys accepted instead of speech (e.g. "12" for yes/no)
    clip: str = ""  # a name for the recorded utterance
    # When a key is pressed instead, collect up to this many digits (ended by terminator).
    max_digits: int = 1
    terminator: str = ""


@dataclass(frozen=True)
class Record:
    """Record a clip without recognising it (a spoken name when speech is off)."""

    prompts: tuple[Play | SayDigits | SayNumber, ...]
    max_seconds: float
    clip: str
    silence: float = 2.0


@dataclass(frozen=True)
class HoldMusic:
    """Music on hold for up to ``seconds``; a key in ``keys`` ends it early.

    ``until_announcement``: the seconds until the next queue announcement is due.  A front
    end that cuts a hold short when routing has news for the call (an operator reserved,
    the queue gave it up: :mod:`ivr.asterisk.wakes`) holds that long instead of
    ``seconds``, the bound on a reserved operator's wait where nothing can cut it short."""

    seconds: float
    keys: str = ""
    until_announcement: float = 0.0


@dataclass(frozen=True)
class SetVariable:
    name: str
    value: str


@dataclass(frozen=True)
class StartRecording:
    """Record the operator conversation (consent was given)."""

    call_id: str


@dataclass(frozen=True)
class Connect:
    """Bridge the caller to the operator the routing engine reserved."""

    operator: str
    endpoint: str
    record: bool


@dataclass(frozen=True)
class Transfer:
    target: str


@dataclass(frozen=True)
class Hangup:
    pass


# -- service actions ------------------------------------------------------------------


@dataclass(frozen=True)
class Enqueue:
    queue: str
    skills: tuple[str, ...]
    priority: int
    language: str
    # The context for the operator's screen-pop; the routing adapter serialises it.
    context: CallContext | None = None


@dataclass(frozen=True)
class PollQueue:
    pass


@dataclass(frozen=True)
class LeaveQueue:
    """The caller hung up while queued: remove the call at once and count it abandoned."""


@dataclass(frozen=True)
class LookupAppeal:
    number: str


@dataclass(frozen=True)
class BookCallback:
    number: str


Prompt = Play | SayDigits | SayNumber
MediaAction = (
    Play
    | SayDigits
    | SayNumber
    | CollectDigits
    | CollectSpeech
    | Record
    | HoldMusic
    | SetVariable
    | StartRecording
    | Connect
    | Transfer
    | Hangup
)
ServiceAction = Enqueue | PollQueue | LeaveQueue | LookupAppeal | BookCallback
Action = MediaAction | ServiceAction
WAITING = (CollectDigits, CollectSpeech, Record, HoldMusic)
