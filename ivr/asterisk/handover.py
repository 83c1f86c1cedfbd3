"""What became of a call the engine handed to an operator: AMI events -> call outcomes.

The engine ends its FastAGI session with ``IVR_STATUS=connect`` and the operator it
reserved; the dialplan then Dials ``${IVR_OPERATOR_ENDPOINT}`` on the same channel, whose
``Uniqueid`` is the engine's call id (``agi_uniqueid``).  Only AMI sees the rest::

    Event: DialEnd  Uniqueid: <call id>  DialStatus: ANSWER
        -> OperatorAnswered           the operator goes on_call, the wait is measured
    Event: DialEnd  Uniqueid: <call id>  DialStatus: NOANSWER | BUSY | CHANUNAVAIL | ...
        -> OperatorMissed             the caller goes back to the head of its line (the
                                      dialplan returns the channel to the engine's hold,
                                      ``AGI(...,resume)``); the operator is not ready
    Event: DialEnd  DialStatus: CANCEL   (the caller hung up while it rang: the Hangup follows)
    Event: Hangup   Uniqueid: <call id>
        -> ConversationEnded          connected: the operator goes to wrap-up
        -> CallerLeft                 still reserved: the caller left while it rang

Transfers (:mod:`ivr.asterisk.transfer`): a blind one Redirects the caller's channel to
``[operator-transfer]`` (no Hangup of it; the first operator's leg has its own Uniqueid)
and hands it back with ``AGI(...,resume,TRANSFER)``; a DialEnd naming the first
operator's leg is never read as the next operator's answer.  A warm one moves only the
operators' legs: the caller's channel stays in its Dial, whose end is the conversation's.

The moves themselves are :mod:`ivr.aftermenu.life`'s.

Without this the routing engine never hears of the hand-over: the reservation expires
and the call, long gone from the menu, is put back in line and reserved again and again.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable

from ivr.aftermenu import CallerLeft, CallLife, ConversationEnded, OperatorAnswered, OperatorMissed
from ivr.aftermenu.legs import Legs
from ivr.asterisk.ami import Message
from ivr.asterisk.transfer import RESUME_TRANSFER
from ivr.call.runner import CallObserver, CallRunner, Steps
from ivr.call.services import CallServices
from ivr.flow import events as e
from ivr.flow.context import CallContext
from ivr.flow.engine import CallState
from ivr.menu.model import Menu
from routing.engine import Router
from routing.errors import RoutingError

log = logging.getLogger(__name__)
HANDOVER_NODE = "operator-handover"  # where an abandoned hand-over is recorded
RESUME = "resume"  # AGI(${IVR_AGI},resume,${DIALSTATUS}): the dialplan returns a call
HUNG_UP = "hungup"  # AGI(${IVR_AGI},hungup): [operator-handover]'s h extension, the call is over


class HandoverWatcher:
    def __init__(self, *, router: Router, life: CallLife | None = None) -> None:
        self.router = router
        self.life = life or CallLife(router=router)

    def on_event(self, event: Message) -> None:
        try:
            self._on_event(event)
        except Exception:  # the AMI reader thread must survive anything
            log.exception("hand-over watcher: handling %s failed", event.get("Event", "?"))

    def _on_event(self, event: Message) -> None:
        name = event.get("Event", "")
        if name not in ("DialEnd", "Hangup"):
            return
        call_id = event.get("Uniqueid", "")
        if not call_id:
            return
        status = self.router.status(call_id)
        if status.assignment is None or status.assignment.kind != "call":
            return  # not a call the engine handed over (or already finished)
        try:
            dial_status = event.get("DialStatus", "")
            if name == "DialEnd" and status.state == "reserved":
                if self._earlier_leg(call_id, event.get("DestChannel", ""), status.assignment.operator_id):
                    return  # the Dial of the operator the call was just transferred from
                if dial_status == "ANSWER":
                    legs = Legs(call_id, "asterisk", status.assignment.operator_id,
                                caller=event.get("Channel", ""), operator=event.get("DestChannel", ""),
                                since=self.router.clock())
                    self.life.apply(OperatorAnswered(call_id, legs))
                    log.info("call %s: %s answered", call_id, status.assignment.operator_id)
                elif dial_status != "CANCEL":  # CANCEL: the caller hung up; Hangup says so
                    self.life.apply(OperatorMissed(call_id, status.assignment.operator_id,
                                                   dial_status.lower() or "no_answer"))
            elif name == "Hangup":
                _hung_up(self.life, call_id, status.state)
        except RoutingError as exc:  # another engine process got there first
            log.info("call %s: %s not recorded: %s", call_id, name, exc)


    def _earlier_leg(self, call_id: str, dest: str, operator_id: str) -> bool:
        """``dest`` is the operator's leg of the conversation before a transfer (its
        ``Legs`` name another operator): not a report about the operator now reserved."""
        legs = self.life.legs.get(call_id)
        return legs is not None and bool(dest) and legs.operator == dest and legs.operator_id != operator_id


def _hung_up(life: CallLife, call_id: str, state: str) -> None:
    """The caller's channel of a handed-over call hung up (either side ended it)."""
    if state == "connected":
        life.apply(ConversationEnded(call_id))
    elif state == "reserved":
        life.apply(CallerLeft(call_id, HANDOVER_NODE))


class HungUp:
    """The runner of ``AGI(${IVR_AGI},hungup)`` (see :func:`hung_up`): nothing to play on a
    channel that is gone; the session sends no command and ends."""

    done = True

    def start_steps(self, event: e.CallStarted) -> Steps:
        return _no_steps()

    def handle_steps(self, event: e.Event) -> Steps:
        return _no_steps()


def _no_steps() -> Steps:
    return []
    yield  # a generator: the session drives every runner's steps alike


def hung_up(env: dict[str, str], *, life: CallLife) -> HungUp:
    """``AGI(${IVR_AGI},hungup)``: the dialplan's ``h`` extension of ``[operator-handover]``
    (or the terminal softphone, which does what it does) says the caller's channel of a
    handed-over call is gone, as AMI's ``Hangup`` would.  Routing hears it at once: a
    conversation is over (the operator goes to wrap-up), a caller who gave up while the
    operator's phone rang has left (the operator is free, no miss).  With AMI its
    ``Hangup`` usually came first: the second word changes nothing."""
    call_id = env.get("agi_uniqueid", "")
    status = life.router.status(call_id)
    if status.assignment is not None and status.assignment.kind == "call":
        try:
            _hung_up(life, call_id, status.state)
        except RoutingError as exc:  # AMI's Hangup, or another engine, got there first
            log.info("call %s: hang-up not recorded: %s", call_id, exc)
    return HungUp()


class BackInLine:
    """The runner of a call the dialplan hands back after its operator did not answer
    (``AGI(${IVR_AGI},resume,${DIALSTATUS})`` in ``[operator-handover]``): instead of the
    menu's start it holds again at the head of its line (the flow engine's ``BackInLine``)
    and, when routing reserves the next operator, ends with ``IVR_STATUS=connect`` as the
    menu does."""

    def __init__(self, runner: CallRunner) -> None:
        self.runner = runner

    @property
    def done(self) -> bool:
        return self.runner.done

    def start_steps(self, event: e.CallStarted) -> Steps:
        return self.runner.handle_steps(e.BackInLine(event.at))

    def handle_steps(self, event: e.Event) -> Steps:
        return self.runner.handle_steps(event)


def back_in_line(env: dict[str, str], *, life: CallLife, menu: Menu, services: CallServices,
                 clock: Callable[[], float], recording: bool, callbacks: bool, ami: bool,
                 recorder: bool = True, observer: CallObserver | None = None) -> BackInLine:
    """The runner for a call the dialplan returned.  With AMI the missed ring was reported
    by DialEnd (and the call may already be reserved for the next operator); without
    (``ami`` false), the return itself says it: ``agi_arg_2`` is Dial's ``DIALSTATUS``.
    ``agi_arg_3``, when given, is the operator who was dialled (``${IVR_OPERATOR}``; the
    terminal softphone gives it): a call already reserved for another one (the engine's
    ring timer reported the miss first and routing offered the call on) is not that
    operator's miss.  A call routing no longer holds gets a runner that ends at once: the
    dialplan then goes on to its fallback ``Queue()``."""
    call_id = env.get("agi_uniqueid", "")
    status = life.router.status(call_id)
    a = status.assignment
    dialled = env.get("agi_arg_3", "")
    transferred = env.get("agi_arg_2", "") == RESUME_TRANSFER  # [operator-transfer]: no ring was missed
    if (not ami and not transferred and status.state == "reserved" and a is not None and a.kind == "call"
            and dialled in ("", a.operator_id)):
        try:
            life.apply(OperatorMissed(call_id, a.operator_id, env.get("agi_arg_2", "").lower() or "no_answer"))
        except RoutingError as exc:
            log.info("call %s: miss not recorded: %s", call_id, exc)
    raw = life.router.context(call_id)
    held = life.router.status(call_id).state in ("waiting", "reserved")
    if raw is not None and held:
        ctx = CallContext.from_dict(raw)
        state = CallState(context=dataclasses.replace(ctx, outcome="connected"), node=ctx.node or "",
                          phase="done", recording=recording, recorder=recorder, callbacks=callbacks)
    else:
        ctx = CallContext(call_id=call_id, caller=env.get("agi_callerid", ""), dialled="", started=clock())
        state = CallState(context=dataclasses.replace(ctx, outcome="gone"), phase="done")
    return BackInLine(CallRunner.resume(menu=menu, services=services, clock=clock, state=state, observer=observer))
