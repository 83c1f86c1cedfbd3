"""Values the routing engine hands out: waiting calls, placements, assignments, snapshots.

All frozen: the engine's state lives in Redis; these are copies taken at one moment.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

OperatorState = Literal["offline", "available", "reserved", "on_call", "wrap_up", "break"]
CallState = Literal[
    "waiting", "reserved", "connected", "abandoned", "callback", "overflowed", "gone"
]
AssignmentKind = Literal["call", "callback"]
Channel = Literal["asterisk", "twilio"]


@dataclass(frozen=True)
class WaitingCall:
    """A call the voice menu hands to routing.

    ``identity_keys`` are opaque, already hashed strings (``inn:<sha256>``,
    ``tel:<sha256>``) used only to find the caller's unresolved appeals.
    ``context`` is the screen-pop: JSON-able data the menu collected.
    ``appeal``: the call's appeal number, opened (under ``appeal_topic``) as the call
    joins the line, unless it exists; it never makes its own caller a repeat caller.
    """

    call_id: str
    queue: str
    skills: tuple[str, ...]
    priority: int
    language: str
    caller: str
    enqueued_at: float
    context: Mapping[str, Any] = field(default_factory=dict)
    identity_keys: tuple[str, ...] = ()
    channel: str = "asterisk"
    appeal: str = ""
    appeal_topic: str = ""


@dataclass(frozen=True)
class Assignment:
    """An operator reserved for a call (or a callback): bridge or dial now."""

    call_id: str
    operator_id: str
    endpoint: str
    kind: AssignmentKind
    reserved_at: float
    context: Mapping[str, Any]
    # For callbacks: the id the dialer reports back with, and the number to dial.
    callback_id: str | None = None
    number: str | None = None
    queue: str = ""


@dataclass(frozen=True)
class Placement:
    """Where an enqueued call stands.  ``assignment`` is set when an operator was free at once."""

    call_id: str
    position: int
    expected_wait: float | None  # None: no operator on duty could take it, so no estimate
    offer_callback: bool
    effective_priority: float
    repeat_caller: bool
    assignment: Assignment | None = None


@dataclass(frozen=True)
class CallStatus:
    call_id: str
    state: CallState
    position: int | None
    expected_wait: float | None
    assignment: Assignment | None
    # For 'overflowed': the queue the menu should move the call to.
    overflow_to: str | None = None


@dataclass(frozen=True)
class CallbackRequest:
    callback_id: str
    call_id: str
    queue: str
    number: str
    attempts: int
    next_attempt_at: float
    max_attempts: int = 3


@dataclass(frozen=True)
class OperatorStatus:
    operator_id: str
    state: OperatorState
    since: float
    assignment: Assignment | None


@dataclass(frozen=True)
class QueueSnapshot:
    """One queue as the supervisor sees it (``ivr queues``, the dashboard)."""

    queue: str
    name: str
    open: bool
    waiting: int
    longest_wait: float
    expected_wait: float | None  # None: nobody on duty could take a call of the queue
    callbacks_pending: int
    answered: int
    answered_within: int
    abandoned: int
    service_level: float | None
    service_level_target: float
    service_level_seconds: int
    operators: Mapping[str, int]

    def as_dict(self) -> dict[str, Any]:
        return {
            "queue": self.queue,
            "name": self.name,
            "open": self.open,
            "waiting": self.waiting,
            "longest_wait": round(self.longest_wait, 1),
            "expected_wait": None if self.expected_wait is None else round(self.expected_wait, 1),
            "callbacks_pending": self.callbacks_pending,
            "answered": self.answered,
            "answered_within": self.answered_within,
            "abandoned": self.abandoned,
            "service_level": None if self.service_level is None else round(self.service_level, 4),
            "service_level_target": self.service_level_target,
            "service_level_seconds": self.service_level_seconds,
            "operators": dict(self.operators),
        }


@dataclass(frozen=True)
class Missed:
    """An operator did not answer a call reserved for him (:meth:`Router.missed`)."""

    call_id: str
    operator_id: str
    misses: int  # his misses in a row, this one included; 0: nothing changed (a retry)
    again: Assignment | None = None  # the call, offered at once to another operator


@dataclass(frozen=True)
class Transfer:
    """A transfer routing made (:meth:`Router.transfer`, :meth:`Router.consult` and its
    steps).  ``assignment``: the call (blind) reserved at once for the next operator;
    ``operator`` / ``endpoint``: the next operator of a consultation; ``freed``: the first
    operator's (or a released one's) next call, offered at once (no wrap-up)."""

    call_id: str
    transfer_id: str
    assignment: Assignment | None = None
    operator: str = ""
    endpoint: str = ""
    freed: Assignment | None = None
    back_to: str = ""  # transfer_failed: "operator" (the first one again) or "line"
