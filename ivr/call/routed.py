"""CallServices backed by the routing engine and the appeal book in Redis.

The production world of a call: the menu's enqueue, queue polls, callbacks and
status look-ups go to :class:`routing.engine.Router` and
:class:`routing.appeals.AppealBook`; the call's record (path, outcome) goes to
the call log that feeds the supervisors' funnel.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ivr.flow import actions as a
from ivr.flow import events as e
from ivr.flow.context import CallContext
from ivr.identity import InvalidIdentity, validate_phone
from ivr.identity.pseudonym import IdentityHasher
from routing.appeals import AppealBook
from routing.engine import Router
from routing.errors import CallbackExists, InvalidTransition, RoutingError
from routing.model import WaitingCall


def document_keys(ctx: CallContext, hasher: IdentityHasher) -> tuple[str, ...]:
    """Keyed hashes of the documents the caller gave in this call (ИНН, СНИЛС): what opens
    the status of their appeals; never the numbers themselves."""
    return hasher.documents(inn=ctx.inn, snils=ctx.snils)


def identity_keys(ctx: CallContext, hasher: IdentityHasher) -> tuple[str, ...]:
    """Keyed hashes that find a caller's earlier appeals (the documents and the caller's
    number); never the numbers themselves."""
    try:
        return (*document_keys(ctx, hasher), hasher.phone(validate_phone(ctx.caller)))
    except InvalidIdentity:
        return document_keys(ctx, hasher)


class RoutedServices:
    def __init__(
        self,
        *,
        router: Router,
        appeals: AppealBook,
        call_log: Callable[[CallContext, float], None] | None = None,
    ) -> None:
        self.router = router
        self.appeals = appeals
        self.call_log = call_log

    def allocate_appeal(self) -> str:
        return self.appeals.allocate()

    def enqueue(self, ctx: CallContext, action: a.Enqueue, at: float) -> e.Queued:
        context = action.context or ctx
        keys = identity_keys(context, self.appeals.identity)
        placement = self.router.enqueue(
            WaitingCall(
                call_id=ctx.call_id,
                queue=action.queue,
                skills=action.skills,
                priority=action.priority,
                language=action.language,
                caller=ctx.caller,
                enqueued_at=at,
                context=context.to_dict(),
                identity_keys=keys,
                channel=ctx.channel,
                appeal=context.appeal or "",
                appeal_topic=context.topic or action.queue,
            )
        )
        assigned = placement.assignment
        if assigned is not None:  # an operator was free: no wait to announce, connect now
            return e.Queued(placement.position, None, False, at,
                            operator=assigned.operator_id, endpoint=assigned.endpoint)
        return e.Queued(placement.position, placement.expected_wait, placement.offer_callback, at)

    def poll(self, ctx: CallContext, at: float) -> e.QueueUpdate:
        status = self.router.status(ctx.call_id)
        if status.assignment is not None and status.state in ("reserved", "connected"):
            return e.QueueUpdate(
                status.position, status.expected_wait, at,
                operator=status.assignment.operator_id, endpoint=status.assignment.endpoint,
            )
        if status.state in ("waiting", "reserved"):
            return e.QueueUpdate(status.position, status.expected_wait, at)
        return e.QueueUpdate(None, None, at, gone=True)

    def leave_queue(self, ctx: CallContext, at: float) -> None:
        try:
            self.router.abandon(ctx.call_id, node=ctx.node)
        except RoutingError:
            pass  # already gone (answered, expired): nothing to remove

    def lookup_appeal(self, ctx: CallContext, number: str, at: float) -> e.AppealLooked:
        appeal = self.appeals.status_for(number, document_keys(ctx, self.appeals.identity))
        return e.AppealLooked(number, appeal.status if appeal else None, at)

    def book_callback(self, ctx: CallContext, number: str, at: float) -> e.CallbackBooked:
        try:
            self.router.request_callback(ctx.call_id, number)
        except CallbackExists:
            return e.CallbackBooked(False, at)
        except InvalidTransition:  # an operator was reserved while the caller confirmed
            return e.CallbackBooked(False, at, still_waiting=False)
        return e.CallbackBooked(True, at)

    def call_ended(self, ctx: CallContext, at: float) -> None:
        if self.call_log is not None:
            self.call_log(ctx, at)
        if ctx.appeal:  # a call that never queued: its appeal takes what the call collected
            self.appeals.settle(ctx.appeal, identity_keys(ctx, self.appeals.identity), ctx.topic or "")


def context_for_screen(raw: dict[str, Any]) -> CallContext:
    """The call context back from a routing assignment (for the operator's screen)."""
    return CallContext.from_dict(raw)
