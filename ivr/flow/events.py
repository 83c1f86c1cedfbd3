"""What happens to a call, as the front ends and services tell the flow engine.

Every event carries ``at``: the moment, in epoch seconds, as the adapter saw it.
The engine never reads a clock.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class CallStarted:
    call_id: str
    caller: str
    dialled: str
    at: float
    language: str = "ru"
    appeal: str | None = None  # the appeal number allocated for this call
    speech: bool = False  # can this front end recognise speech right now?
    channel: str = "asterisk"
    # Can the engine keep recordings (a recording key is loaded)?  False: the operator
    # conversation is never recorded, whatever the caller answers.
    recording: bool = True
    # Does a recorder carry the conversation after the menu?  False: the ``ivr call``
    # terminal softphone (its terminal carries no audio of it): nothing is recorded.
    recorder: bool = True
    # Can the engine place a callback to this caller (Asterisk's AMI, Twilio's REST API,
    # the terminal softphone's line)?  False: the menu never offers one.
    callbacks: bool = True


@dataclass(frozen=True)
class DigitsEntered:
    """Keys the caller pressed: a whole entry, or one key that barged in."""

    digits: str
    at: float


@dataclass(frozen=True)
class SpeechHeard:
    text: str
    confidence: float
    at: float
    clip: str | None = None  # a reference to the recorded utterance, kept for the operator


@dataclass(frozen=True)
class NoInput:
    """The caller said and pressed nothing before the timeout."""

    at: float


@dataclass(frozen=True)
class Recorded:
    """A clip was recorded (a spoken name when recognition is off); ``clip`` None: nothing
    was (the caller pressed '#' at once), so there is nothing to keep."""

    clip: str | None
    at: float


@dataclass(frozen=True)
class PromptFinished:
    at: float


@dataclass(frozen=True)
class HungUp:
    at: float


# -- results of the services the call runner asked for ------------------------------


@dataclass(frozen=True)
class AppealLooked:
    number: str
    status: str | None  # None: no such appeal
    at: float


@dataclass(frozen=True)
class Queued:
    position: int
    expected_wait: float | None  # None: nobody on duty could take the call, no estimate
    offer_callback: bool
    at: float
    operator: str | None = None  # set when an operator was free and reserved at once
    endpoint: str | None = None


@dataclass(frozen=True)
class QueueUpdate:
    """The routing engine's view of a waiting call, polled while it waits."""

    position: int | None
    expected_wait: float | None
    at: float
    operator: str | None = None  # set once an operator is reserved for the call
    endpoint: str | None = None
    gone: bool = False  # the routing engine no longer holds the call (overflowed, expired)


@dataclass(frozen=True)
class BackInLine:
    """The operator the call was handed to did not answer: routing put the call back at
    the head of its line (ivr.aftermenu's OperatorMissed), and the caller holds again."""

    at: float


@dataclass(frozen=True)
class CallbackBooked:
    accepted: bool  # False: a callback to this number is already pending
    at: float
    # False with accepted=False: the call stopped waiting while the caller confirmed the
    # number (an operator was reserved for it, or it overflowed): no callback, poll now.
    still_waiting: bool = True


Event = (
    CallStarted
    | BackInLine
    | DigitsEntered
    | SpeechHeard
    | NoInput
    | Recorded
    | PromptFinished
    | HungUp
    | AppealLooked
    | Queued
    | QueueUpdate
    | CallbackBooked
)
