"""Transfer from the operator's screen-pop: blind or warm, to a queue or a named operator.

Routes (role ``operator``; the call must be the operator's live conversation)::

    GET  /operator/api/transfer/targets               queues (open now?) and operators (ready?)
    POST /operator/api/calls/<id>/transfer            {"mode": "blind" | "warm",
                                                       "queue": q | "operator": op, "note": text}
    POST /operator/api/calls/<id>/transfer/complete   warm: the next operator has the call
    POST /operator/api/calls/<id>/transfer/cancel     warm: the next operator is released

Order, so that a failure leaves the call as it was and nobody reserved: routing first
(:mod:`ivr.aftermenu.life`: the call at the head of the new line, or the next operator
reserved), then the telephony (:class:`ivr.aftermenu.control.LiveControl`); if the
telephony refuses or does not answer, routing is undone (``TransferFailed``: the call is
the first operator's again, or at the head of its old line; ``ConsultCancelled``: the next
operator released).  A call that hung up meanwhile ends (``ConversationEnded``).
Completing a consultation is the other way round: the telephony first (the first operator's
leg hangs up), then routing.  Each attempt, done or refused, is a line of the console's
audit log (action ``transfer_blind``, ``transfer_warm``, ``transfer_complete``,
``transfer_cancel``).
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from typing import Any

from flask import Blueprint, current_app, jsonify, request

from ivr.aftermenu import (
    CallLife,
    ConsultCancelled,
    ConsultCompleted,
    ConsultStarted,
    ConversationEnded,
    TransferFailed,
    TransferredToOperator,
    TransferredToQueue,
)
from ivr.aftermenu.control import CallNotLive, Controls, LiveCallError, LiveControl, Unsupported
from ivr.aftermenu.legs import Legs
from ivr.console.auth import Principal, current, requires
from ivr.console.operator import NOTE_MAX, DeskError, OperatorDesk
from routing.engine import Router
from routing.errors import InvalidTransition, RoutingError, TransferRefused

log = logging.getLogger(__name__)
MODES = ("blind", "warm")


class TransferDesk:
    def __init__(self, *, desk: OperatorDesk, controls: Callable[[], Controls], life: CallLife,
                 router: Router) -> None:
        self.desk = desk
        self._controls = controls  # the engine's, as they are now (AMI may log in after the app is built)
        self.life = life
        self.router = router

    # -- what the page offers ---------------------------------------------------------------
    def targets(self, who: Principal) -> dict[str, Any]:
        now = self.router.clock()
        queues = [{"id": name, "name": q.name or name, "name_en": q.name_en or q.name or name,
                   "open": q.hours.is_open(now, self.router.calendar)} for name, q in self.router.queues.items()]
        states = {op: self.desk.state_of(op)["state"] for op in self.router.operators if op != who.operator}
        operators = [{"id": op, "name": self.router.operators[op].name, "ready": state == "available",
                      "state": state} for op, state in states.items()]
        return {"queues": queues, "operators": operators}

    # -- checks -----------------------------------------------------------------------------
    def _audit(self, who: Principal, action: str, call_id: str, outcome: str, detail: str) -> None:
        self.desk._audit(who, action, call_id, outcome, detail)

    def _refuse(self, who: Principal, action: str, call_id: str, status: int, kind: str, message: str,
                detail: str = "") -> DeskError:
        self._audit(who, action, call_id, "refused", f"{kind}: {detail}" if detail else kind)
        if status >= 500:  # the telephony's own words, for whoever looks into it
            log.warning("call %s: %s by %s failed: %s", call_id[:80], action, who.operator, detail)
        return DeskError(status, kind, message)

    def _live(self, call_id: str, who: Principal, action: str) -> tuple[Legs, LiveControl]:
        """The call is this operator's live conversation, and its telephony can act on it."""
        assert who.operator is not None
        if any(r.get("by") == who.operator for r in self.router.transfers(call_id)):
            holder = self.router.status(call_id).assignment  # given back to him after a failure?
            if holder is None or holder.operator_id != who.operator:
                raise self._refuse(who, action, call_id, 409, "already_transferred", "Вызов уже переведён")
        owned = self.desk.own(call_id, who, action)
        if owned.assignment is None or self.router.status(call_id).state != "connected":
            raise self._refuse(who, action, call_id, 409, "not_connected", "Переводить можно только идущий разговор")
        try:
            return self._controls().of(call_id)
        except CallNotLive:
            raise self._refuse(who, action, call_id, 409, "call_not_live",
                               "Телефония не ведёт этот разговор: перевод невозможен") from None
        except Unsupported:
            raise self._refuse(who, action, call_id, 409, "unsupported",
                               "Эта телефония не умеет переводить вызов") from None

    def _target(self, who: Principal, action: str, call_id: str, data: dict[str, Any]) -> tuple[str | None, str | None]:
        queue, operator = str(data.get("queue") or "") or None, str(data.get("operator") or "") or None
        if (queue is None) == (operator is None):
            raise self._refuse(who, action, call_id, 400, "bad_target", "Выберите очередь или оператора")
        if queue is not None and queue not in self.router.queues:
            raise self._refuse(who, action, call_id, 400, "unknown_queue", "Нет такой очереди", queue[:40])
        if operator is not None and operator not in self.router.operators:
            raise self._refuse(who, action, call_id, 400, "unknown_operator", "Нет такого оператора", operator[:40])
        return queue, operator

    def _routing_refusal(self, who: Principal, action: str, call_id: str, exc: RoutingError) -> DeskError:
        if isinstance(exc, TransferRefused):
            return self._refuse(who, action, call_id, 409, exc.why, f"Перевод невозможен: {exc.why}")
        if isinstance(exc, InvalidTransition) and exc.details.get("current") in ("gone", "abandoned"):
            return self._refuse(who, action, call_id, 410, "call_over", "Разговор окончен")
        return self._refuse(who, action, call_id, 409, "already_transferred", "Вызов уже переведён", str(exc))

    # -- blind -------------------------------------------------------------------------------
    def start(self, call_id: str, who: Principal, data: dict[str, Any]) -> dict[str, Any]:
        mode = str(data.get("mode") or "")
        action = f"transfer_{mode}" if mode in MODES else "transfer"
        if mode not in MODES:
            raise self._refuse(who, action, call_id, 400, "bad_mode", "Выберите: перевод сразу или с консультацией")
        note = str(data.get("note") or "")
        if len(note) > NOTE_MAX:
            raise self._refuse(who, action, call_id, 400, "note_too_long", f"Заметка длиннее {NOTE_MAX} знаков")
        queue, operator = self._target(who, action, call_id, data)
        legs, control = self._live(call_id, who, action)
        assert who.operator is not None
        xid = uuid.uuid4().hex[:16]
        target = f"queue {queue}" if queue else f"operator {operator}"
        if mode == "blind":
            return self._blind(call_id, who, legs, control, xid, queue, operator, note, target)
        return self._warm(call_id, who, legs, control, xid, queue, operator, note, target)

    def _blind(self, call_id: str, who: Principal, legs: Legs, control: LiveControl, xid: str,
               queue: str | None, operator: str | None, note: str, target: str) -> dict[str, Any]:
        assert who.operator is not None
        try:
            if queue is not None:
                self.life.apply(TransferredToQueue(call_id, who.operator, queue, note, xid))
            else:
                assert operator is not None
                self.life.apply(TransferredToOperator(call_id, who.operator, operator, note, xid))
        except RoutingError as exc:
            raise self._routing_refusal(who, "transfer_blind", call_id, exc) from None
        try:
            control.redirect_to_line(legs)
        except LiveCallError as exc:
            self._undo_blind(call_id, xid, exc)
            if isinstance(exc, CallNotLive):
                raise self._refuse(who, "transfer_blind", call_id, 410, "call_over",
                                   "Абонент положил трубку", str(exc)) from None
            raise self._refuse(who, "transfer_blind", call_id, 502, "telephony_failed",
                               "Телефония не выполнила перевод; вызов остаётся у вас", str(exc)) from None
        self.desk.mark_left(call_id, who.operator)
        self._audit(who, "transfer_blind", call_id, "allowed", target)
        return {"transferred": True, "mode": "blind", "to": queue or operator, **self.desk.state_of(who.operator)}

    def _undo_blind(self, call_id: str, xid: str, exc: LiveCallError) -> None:
        try:
            self.life.apply(TransferFailed(call_id, xid, why=str(exc)[:200]))
            if isinstance(exc, CallNotLive):  # the caller hung up meanwhile: the conversation is over
                self.life.apply(ConversationEnded(call_id))
        except RoutingError as error:
            log.warning("call %s: transfer %s not undone: %s", call_id, xid, error)

    # -- warm --------------------------------------------------------------------------------
    def _warm(self, call_id: str, who: Principal, legs: Legs, control: LiveControl, xid: str,
              queue: str | None, operator: str | None, note: str, target: str) -> dict[str, Any]:
        assert who.operator is not None
        try:
            applied = self.life.apply(ConsultStarted(call_id, who.operator, queue, operator, note, xid))
        except RoutingError as exc:
            raise self._routing_refusal(who, "transfer_warm", call_id, exc) from None
        assert applied.transfer is not None
        nxt, endpoint = applied.transfer.operator, applied.transfer.endpoint
        try:
            control.consult(legs, nxt, endpoint)
        except LiveCallError as exc:
            try:
                self.life.apply(ConsultCancelled(call_id, who.operator, xid))
            except RoutingError as error:  # the call ended meanwhile: its end released him
                log.info("call %s: consultation %s already over: %s", call_id, xid, error)
            kind, status = ("call_over", 410) if isinstance(exc, CallNotLive) else ("telephony_failed", 502)
            raise self._refuse(who, "transfer_warm", call_id, status, kind,
                               "Телефония не начала консультацию; вызов остаётся у вас", str(exc)) from None
        self._audit(who, "transfer_warm", call_id, "allowed", f"{target}: consulting {nxt}")
        return {"consulting": True, "transfer_id": xid, "next": nxt, "next_name": self.router.operators[nxt].name}

    def _consultation(self, call_id: str, who: Principal, action: str) -> tuple[str, str, Legs, LiveControl]:
        under_way = self.router.consultation(call_id)
        if under_way is None or under_way[0] != who.operator:
            self.desk.own(call_id, who, action)
            raise self._refuse(who, action, call_id, 409, "no_consultation", "Консультация не идёт")
        try:
            legs, control = self._controls().of(call_id)
        except LiveCallError:
            raise self._refuse(who, action, call_id, 409, "call_not_live", "Разговор окончен") from None
        return under_way[1], under_way[2], legs, control

    def complete(self, call_id: str, who: Principal) -> dict[str, Any]:
        assert who.operator is not None
        xid, nxt, legs, control = self._consultation(call_id, who, "transfer_complete")
        try:
            control.complete_consult(legs)
        except LiveCallError as exc:
            raise self._refuse(who, "transfer_complete", call_id, 502, "telephony_failed",
                               "Телефония не завершила перевод; консультация продолжается", str(exc)) from None
        try:
            self.life.apply(ConsultCompleted(call_id, who.operator, xid))
        except RoutingError as exc:
            raise self._routing_refusal(who, "transfer_complete", call_id, exc) from None
        self.desk.mark_left(call_id, who.operator)
        self._audit(who, "transfer_complete", call_id, "allowed", f"to operator {nxt}")
        return {"transferred": True, "mode": "warm", "to": nxt, **self.desk.state_of(who.operator)}

    def cancel(self, call_id: str, who: Principal) -> dict[str, Any]:
        assert who.operator is not None
        xid, nxt, legs, control = self._consultation(call_id, who, "transfer_cancel")
        problem = None
        try:
            control.cancel_consult(legs)
        except LiveCallError as exc:  # routing releases him anyway: nobody stays reserved
            problem = str(exc)
        try:
            self.life.apply(ConsultCancelled(call_id, who.operator, xid))
        except RoutingError as exc:
            raise self._routing_refusal(who, "transfer_cancel", call_id, exc) from None
        self._audit(who, "transfer_cancel", call_id, "allowed" if problem is None else "failed",
                    f"operator {nxt} released" + (f"; telephony: {problem}" if problem else ""))
        return {"cancelled": True, "telephony_problem": problem is not None, **self.desk.state_of(who.operator)}


bp = Blueprint("operator_transfer", __name__, url_prefix="/operator/api")


def service() -> TransferDesk:
    svc: TransferDesk = current_app.extensions["ivr.console.transfer"]
    return svc


def _who() -> Principal:
    who = current()
    assert who is not None and who.operator is not None
    return who


@bp.errorhandler(DeskError)
def transfer_error(exc: DeskError) -> Any:
    return jsonify(error=exc.kind, message=exc.message), exc.status


@bp.get("/transfer/targets")
@requires("operator")
def targets() -> Any:
    return jsonify(service().targets(_who()))


@bp.post("/calls/<call_id>/transfer")
@requires("operator")
def start(call_id: str) -> Any:
    data = request.get_json(silent=True)
    return jsonify(service().start(call_id, _who(), data if isinstance(data, dict) else request.form.to_dict()))


@bp.post("/calls/<call_id>/transfer/complete")
@requires("operator")
def complete(call_id: str) -> Any:
    return jsonify(service().complete(call_id, _who()))


@bp.post("/calls/<call_id>/transfer/cancel")
@requires("operator")
def cancel(call_id: str) -> Any:
    return jsonify(service().cancel(call_id, _who()))
