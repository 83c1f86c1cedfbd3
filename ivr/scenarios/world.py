"""The scripted world a menu scenario runs in: the queue and appeal book as the scenario says.

Scenarios test the *menu* (what the caller hears, what is collected, where the
call goes), so the routing engine's answers are part of the scenario's script:
the position and wait it reports, whether an operator turns up, which appeals
exist.  The routing engine itself is tested against a real Redis elsewhere.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from ivr.flow import actions as a
from ivr.flow import events as e
from ivr.flow.context import CallContext


@dataclass(frozen=True)
class ScriptedAppeal:
    """An appeal in the scenario's book: its status and its holder's ИНН or СНИЛС."""

    status: str
    holder: str


@dataclass(frozen=True)
class WorldScript:
    position: int = 3
    wait: float = 240.0
    offer_callback: bool = True
    # The operator turns up at this poll of the queue (None: never).
    operator_after_polls: int | None = None
    operator: str = "op101"
    endpoint: str = "PJSIP/op101"
    # The call leaves the queue (overflow) at this poll (None: never).
    gone_after_polls: int | None = None
    appeals: Mapping[str, ScriptedAppeal] = field(default_factory=dict)
    callback_accepted: bool = True
    appeal: str = "0000000182"


class ScriptedWorld:
    """CallServices answering from a :class:`WorldScript`, remembering what was asked."""

    def __init__(self, script: WorldScript) -> None:
        self.script = script
        self.enqueued: list[a.Enqueue] = []
        self.polls = 0
        self.left_queue = False
        self.callbacks: list[str] = []
        self.ended: CallContext | None = None

    def allocate_appeal(self) -> str:
        return self.script.appeal

    def enqueue(self, ctx: CallContext, action: a.Enqueue, at: float) -> e.Queued:
        self.enqueued.append(action)
        s = self.script
        return e.Queued(s.position, s.wait, s.offer_callback, at)

    def poll(self, ctx: CallContext, at: float) -> e.QueueUpdate:
        self.polls += 1
        s = self.script
        if s.operator_after_polls is not None and self.polls >= s.operator_after_polls:
            return e.QueueUpdate(1, 0.0, at, operator=s.operator, endpoint=s.endpoint)
        if s.gone_after_polls is not None and self.polls >= s.gone_after_polls:
            return e.QueueUpdate(None, None, at, gone=True)
        return e.QueueUpdate(s.position, s.wait, at)

    def leave_queue(self, ctx: CallContext, at: float) -> None:
        self.left_queue = True

    def lookup_appeal(self, ctx: CallContext, number: str, at: float) -> e.AppealLooked:
        """The status only for the appeal's holder, as the appeal book tells it."""
        appeal = self.script.appeals.get(number)
        given = {_digits(document) for document in (ctx.inn, ctx.snils) if document}
        status = appeal.status if appeal is not None and _digits(appeal.holder) in given else None
        return e.AppealLooked(number, status, at)

    def book_callback(self, ctx: CallContext, number: str, at: float) -> e.CallbackBooked:
        self.callbacks.append(number)
        return e.CallbackBooked(self.script.callback_accepted, at)

    def call_ended(self, ctx: CallContext, at: float) -> None:
        self.ended = ctx


def _digits(text: str) -> str:
    return "".join(ch for ch in text if ch.isdigit())
