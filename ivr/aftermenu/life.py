"""The one table of a call's life after the menu: outcome -> routing move.

Strategy: as :mod:`ivr.flow.engine` holds every menu transition, this module holds every
way a call moves once it is in line.  Each row names the outcome, the routing move it
performs (a key of :data:`routing.states.MOVES`, where the allowed "from" states are
written once and rendered into the Lua) and what happens to the operator.  Front ends
translate; :meth:`CallLife.apply` is the only caller of the router's state-changing
methods.  Errors are routing's (:class:`routing.errors.RoutingError` and below): an
outcome that no longer fits (another engine process got there first) raises
:class:`~routing.errors.InvalidTransition`, which the front end logs.

=====================  ======================  ===========================================
outcome                move (routing.states)   the call / the operator
=====================  ======================  ===========================================
OperatorAnswered       connected               reserved -> connected / reserved -> on_call
OperatorMissed         missed                  reserved -> waiting, head of its line /
                                               reserved -> offline, why "missed"
CallerLeft             abandon                 waiting | reserved -> abandoned / reserved
                                               -> available, his place in the idle order
ConversationEnded      ended                   connected -> gone / on_call -> wrap_up
TransferredToQueue     transfer                connected -> waiting, head of that queue's
                                               line / on_call -> wrap_up
TransferredToOperator  transfer_to_operator    connected -> reserved for him / -> wrap_up
TransferFailed         transfer_failed         waiting | reserved -> connected, the first
                                               operator on_call again (or the head of its
                                               old line); whoever was reserved, released
ConsultStarted         consult                 connected (the next operator reserved)
ConsultCompleted       consult_complete        connected to the next one (on_call) / the
                                               first -> wrap_up
ConsultCancelled       consult_cancel          connected / the next one released
CallbackRequested      request_callback        waiting -> callback, same place
CallbackAnswered       callback_answered       reserved -> connected / -> on_call
CallbackNotAnswered    callback_not_answered   reserved -> callback (retry) | gone /
                                               -> available
EngineDied             abandon                 waiting | reserved -> abandoned (node
                                               ``engine_lost``) / -> available
=====================  ======================  ===========================================
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from ivr.aftermenu.legs import Legs, LiveLegs
from ivr.aftermenu.outcomes import (
    CallbackAnswered,
    CallbackNotAnswered,
    CallbackRequested,
    CallerLeft,
    ConsultCancelled,
    ConsultCompleted,
    ConsultStarted,
    ConversationEnded,
    EngineDied,
    OperatorAnswered,
    OperatorMissed,
    Outcome,
    TransferFailed,
    TransferredToOperator,
    TransferredToQueue,
)
from routing.engine import Router
from routing.errors import RoutingError
from routing.model import Assignment, Transfer
from routing.states import MOVES

log = logging.getLogger(__name__)
LOST_NODE = "engine_lost"  # where a dead engine's calls are recorded as abandoned


@dataclass(frozen=True)
class Applied:
    """What an outcome did: the call offered again at once (a missed call, a blind
    transfer), the operator's misses in a row (a missed call; 0 otherwise), and a
    transfer's routing side (:class:`routing.model.Transfer`)."""

    outcome: Outcome
    again: Assignment | None = None
    misses: int = 0
    transfer: Transfer | None = None


def _answered(router: Router, o: Any) -> Applied:
    router.connected(o.call_id)
    return Applied(o)


def _missed(router: Router, o: Any) -> Applied:
    m = router.missed(o.call_id, o.operator_id, why=o.why)
    return Applied(o, m.again, m.misses)


def _left(router: Router, o: Any) -> Applied:
    router.abandon(o.call_id, node=o.node or None)
    return Applied(o)


def _ended(router: Router, o: Any) -> Applied:
    router.ended(o.call_id)
    return Applied(o)


def _callback_requested(router: Router, o: Any) -> Applied:
    router.request_callback(o.call_id, o.number)
    return Applied(o)


def _callback_answered(router: Router, o: Any) -> Applied:
    router.callback_result(o.callback_id, answered=True)
    return Applied(o)


def _callback_not_answered(router: Router, o: Any) -> Applied:
    router.callback_result(o.callback_id, answered=False)
    return Applied(o)


def _to_queue(router: Router, o: Any) -> Applied:
    t = router.transfer(o.call_id, by=o.by, queue=o.queue, note=o.note, transfer_id=o.transfer_id or None)
    return Applied(o, t.assignment, transfer=t)


def _to_operator(router: Router, o: Any) -> Applied:
    t = router.transfer(o.call_id, by=o.by, operator=o.operator, note=o.note, transfer_id=o.transfer_id or None)
    return Applied(o, t.assignment, transfer=t)


def _transfer_failed(router: Router, o: Any) -> Applied:
    t = router.transfer_failed(o.call_id, o.transfer_id, why=o.why)
    return Applied(o, t.assignment, transfer=t)


def _consult(router: Router, o: Any) -> Applied:
    t = router.consult(o.call_id, by=o.by, queue=o.queue, operator=o.operator, note=o.note,
                       transfer_id=o.transfer_id or None)
    return Applied(o, transfer=t)


def _consult_complete(router: Router, o: Any) -> Applied:
    return Applied(o, transfer=router.consult_complete(o.call_id, o.transfer_id, by=o.by))


def _consult_cancel(router: Router, o: Any) -> Applied:
    return Applied(o, transfer=router.consult_cancel(o.call_id, o.transfer_id, by=o.by))


def _engine_died(router: Router, o: Any) -> Applied:
    router.abandon(o.call_id, node=LOST_NODE)
    return Applied(o)


@dataclass(frozen=True)
class Row:
    move: str  # a key of routing.states.MOVES
    run: Callable[[Router, Any], Applied]


#: Every outcome and the routing move it makes.
TABLE: Mapping[type, Row] = {
    OperatorAnswered: Row("connected", _answered),
    OperatorMissed: Row("missed", _missed),
    CallerLeft: Row("abandon", _left),
    ConversationEnded: Row("ended", _ended),
    TransferredToQueue: Row("transfer", _to_queue),
    TransferredToOperator: Row("transfer_to_operator", _to_operator),
    TransferFailed: Row("transfer_failed", _transfer_failed),
    ConsultStarted: Row("consult", _consult),
    ConsultCompleted: Row("consult_complete", _consult_complete),
    ConsultCancelled: Row("consult_cancel", _consult_cancel),
    CallbackRequested: Row("request_callback", _callback_requested),
    CallbackAnswered: Row("callback_answered", _callback_answered),
    CallbackNotAnswered: Row("callback_not_answered", _callback_not_answered),
    EngineDied: Row("abandon", _engine_died),
}
assert all(row.move in MOVES for row in TABLE.values())


class CallLife:
    """Applies outcomes to routing.  An operator's misses in a row are kept by routing
    (the supervisors' dashboard flags him at ``routing.missed_calls_alert``)."""

    def __init__(self, *, router: Router) -> None:
        self.router = router
        self.legs = LiveLegs(redis=router.redis, prefix=router.keys.prefix)
        # Front ends that must hear what an outcome did (the terminal softphone: that its
        # operator missed the call); called after the move, never able to undo it.
        self.listeners: list[Callable[[Applied], object]] = []

    def apply(self, outcome: Outcome) -> Applied:
        if isinstance(outcome, OperatorAnswered) and outcome.legs is not None:
            applied = self._answered(outcome, outcome.legs)
        else:
            applied = TABLE[type(outcome)].run(self.router, outcome)
        if isinstance(outcome, (ConversationEnded, CallerLeft, EngineDied)):
            self.legs.drop(outcome.call_id)
        elif isinstance(outcome, ConsultCompleted) and applied.transfer is not None:
            # The caller's leg is the same; the operator's is the next one's, which only the
            # telephony can name (AsteriskControl finds it as the caller's bridge peer).
            legs = self.legs.get(outcome.call_id)
            if legs is not None:
                self.legs.put(dataclasses.replace(legs, operator_id=applied.transfer.operator, operator="",
                                                  since=self.router.clock()))
        if isinstance(outcome, OperatorMissed) and applied.misses:
            log.info("call %s: %s did not answer (%s), %d in a row; back at the head of its line",
                     outcome.call_id, outcome.operator_id, outcome.why, applied.misses)
            if applied.misses >= self.router.settings.missed_calls_alert:
                log.warning("operator %s: %d calls missed in a row", outcome.operator_id, applied.misses)
        for listener in self.listeners:
            try:
                listener(applied)
            except Exception:  # a listener must never undo or break a move made
                log.exception("call life listener failed on %s", type(outcome).__name__)
        return applied

    def _answered(self, outcome: OperatorAnswered, legs: Legs) -> Applied:
        """The legs are kept before routing says ``connected``: whoever sees the operator
        on the call (his console, a supervisor's dashboard) can act on it at once.  A move
        refused because the call has ended takes its legs away again; one refused because
        another engine process connected it first keeps them (they are the same legs)."""
        self.legs.put(legs)
        try:
            return TABLE[OperatorAnswered].run(self.router, outcome)
        except RoutingError:
            if self.router.status(outcome.call_id).state != "connected":
                self.legs.drop(outcome.call_id)
            raise

    def consult_not_answered(self, call_id: str) -> Applied | None:
        """The next operator's phone did not answer the consultation, or hung up before
        the transfer was completed (AMI's ``[operator-consult]`` event, Twilio's
        ``/twilio/consult-leg``): the consultation is over, routing releases him.  None
        when no consultation is under way (completed, cancelled, never begun)."""
        under_way = self.router.consultation(call_id)
        if under_way is None:
            return None
        by, transfer_id, _ = under_way
        return self.apply(ConsultCancelled(call_id, by=by, transfer_id=transfer_id))

    def ring_timeouts(self, ring_seconds: float, *, channels: Callable[[str], bool]) -> list[Applied]:
        """Calls reserved longer than ``ring_seconds`` and not answered, on a channel whose
        telephony does not say "no answer" itself (``channels(name)`` true): the operator
        missed them (the terminal softphone, where the console's "answered" button is the
        only word that the conversation began)."""
        out = []
        for call_id in self.router.unanswered(ring_seconds):
            status = self.router.status(call_id)
            a = status.assignment
            if status.state != "reserved" or a is None or a.kind != "call":
                continue
            if not channels(str(a.context.get("channel") or "")):
                continue
            out.append(self.apply(OperatorMissed(call_id, a.operator_id, "ring_timeout")))
        return out
