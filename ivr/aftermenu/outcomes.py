"""What can become of a call once the menu has put it in line: one frozen value each.

A front end builds one of these from its protocol's event (an AMI ``DialEnd``, a Twilio
``DialCallStatus``, the console's button, a dead engine found by the reaper) and hands it
to :meth:`ivr.aftermenu.life.CallLife.apply`.
"""

from __future__ import annotations

from dataclasses import dataclass

from ivr.aftermenu.legs import Legs


@dataclass(frozen=True)
class OperatorAnswered:
    """The reserved operator took the call (AMI ``DialEnd ANSWER``, Twilio's operator leg
    ``answered``, the console's "answered" button).  ``legs``: the bridged legs, where the
    telephony says them (kept for the console's live-call actions until the end)."""

    call_id: str
    legs: Legs | None = None


@dataclass(frozen=True)
class OperatorMissed:
    """The reserved operator did not answer (``NOANSWER``, ``BUSY``, ``CHANUNAVAIL``,
    Twilio ``no-answer`` / ``busy`` / ``failed``, or the ring time passed with no
    "answered")."""

    call_id: str
    operator_id: str
    why: str = "no_answer"


@dataclass(frozen=True)
class CallerLeft:
    """The caller hung up while waiting in line or while the operator's phone rang."""

    call_id: str
    node: str = ""  # where: the menu node, or the hand-over


@dataclass(frozen=True)
class ConversationEnded:
    """The operator and the caller were talking and one of them hung up (or the operator
    wrapped the call up)."""

    call_id: str


@dataclass(frozen=True)
class TransferredToQueue:
    """The operator passed the live call on, blind, to another queue (the second line):
    it waits at the head of that queue's line.  ``transfer_id``: one per click, so a
    resent request is not a second transfer."""

    call_id: str
    by: str
    queue: str
    note: str = ""
    transfer_id: str = ""


@dataclass(frozen=True)
class TransferredToOperator:
    """The operator passed the live call on, blind, to a named operator who is ready."""

    call_id: str
    by: str
    operator: str
    note: str = ""
    transfer_id: str = ""


@dataclass(frozen=True)
class TransferFailed:
    """The telephony did not carry out the blind transfer routing had made (AMI's
    ``Redirect`` refused, Twilio's update failed): the call goes back."""

    call_id: str
    transfer_id: str
    why: str = ""


@dataclass(frozen=True)
class ConsultStarted:
    """Warm transfer: the operator asks to talk to the next one first (a named operator,
    or whoever is free in ``queue``)."""

    call_id: str
    by: str
    queue: str | None = None
    operator: str | None = None
    note: str = ""
    transfer_id: str = ""


@dataclass(frozen=True)
class ConsultCompleted:
    """The operator completes the warm transfer: the next operator has the call."""

    call_id: str
    by: str
    transfer_id: str


@dataclass(frozen=True)
class ConsultCancelled:
    """The operator calls the warm transfer off (or the telephony could not start it)."""

    call_id: str
    by: str
    transfer_id: str


@dataclass(frozen=True)
class CallbackRequested:
    """The waiting caller chose to be called back; the callback keeps the place in line."""

    call_id: str
    number: str


@dataclass(frozen=True)
class CallbackAnswered:
    """The citizen answered the callback (the operator is already on the line)."""

    callback_id: str


@dataclass(frozen=True)
class CallbackNotAnswered:
    """The callback did not reach the citizen, or the operator, or could not be placed."""

    callback_id: str
    why: str = ""


@dataclass(frozen=True)
class EngineDied:
    """The engine process that held the call's FastAGI session stopped beating."""

    call_id: str
    instance: str


Outcome = (
    OperatorAnswered
    | OperatorMissed
    | CallerLeft
    | ConversationEnded
    | TransferredToQueue
    | TransferredToOperator
    | TransferFailed
    | ConsultStarted
    | ConsultCompleted
    | ConsultCancelled
    | CallbackRequested
    | CallbackAnswered
    | CallbackNotAnswered
    | EngineDied
)
