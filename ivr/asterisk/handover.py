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

The moves themselves are :mod:`ivr.aftermenu.life`'s.

Without this the routing engine never hears of the hand-over: the reservation expires
and the call, long gone from the menu, is put back in line and reserved again and again.
"""

from __future__ import annotations

import logging

from ivr.aftermenu import CallerLeft, CallLife, ConversationEnded, OperatorAnswered, OperatorMissed
from ivr.asterisk.ami import Message
from routing.engine import Router
from routing.errors import RoutingError

log = logging.getLogger(__name__)
HANDOVER_NODE = "operator-handover"  # where an abandoned hand-over is recorded


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
                if dial_status == "ANSWER":
                    self.life.apply(OperatorAnswered(call_id))
                    log.info("call %s: %s answered", call_id, status.assignment.operator_id)
                elif dial_status != "CANCEL":  # CANCEL: the caller hung up; Hangup says so
                    self.life.apply(OperatorMissed(call_id, status.assignment.operator_id,
                                                   dial_status.lower() or "no_answer"))
            elif name == "Hangup":
                if status.state == "connected":
                    self.life.apply(ConversationEnded(call_id))
                elif status.state == "reserved":
                    self.life.apply(CallerLeft(call_id, HANDOVER_NODE))
        except RoutingError as exc:  # another engine process got there first
            log.info("call %s: %s not recorded: %s", call_id, name, exc)
