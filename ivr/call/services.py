"""What a call needs from the rest of the engine while the menu runs.

The flow engine asks for these through service actions; the call runner
carries them out here and hands the answers back as events.  The production
implementation talks to the routing engine in Redis (:mod:`ivr.call.routed`);
``ivr test`` uses the scenario's scripted world (:mod:`ivr.scenarios.world`).
"""

from __future__ import annotations

from typing import Protocol

from ivr.flow import actions as a
from ivr.flow import events as e
from ivr.flow.context import CallContext


class CallServices(Protocol):
    def allocate_appeal(self) -> str:
        """A new appeal number (номер обращения) for a call."""

    def enqueue(self, ctx: CallContext, action: a.Enqueue, at: float) -> e.Queued: ...

    def poll(self, ctx: CallContext, at: float) -> e.QueueUpdate: ...

    def leave_queue(self, ctx: CallContext, at: float) -> None: ...

    def lookup_appeal(self, ctx: CallContext, number: str, at: float) -> e.AppealLooked:
        """The status of appeal ``number`` for this caller: ``status=None`` unless a document
        the caller gave in this call (ИНН, СНИЛС) is the appeal's, exactly as for a number
        that does not exist."""

    def book_callback(self, ctx: CallContext, number: str, at: float) -> e.CallbackBooked: ...

    def call_ended(self, ctx: CallContext, at: float) -> None:
        """The engine is done with the call: keep its record (path, outcome) for the funnel."""
