"""What became of a Twilio call bridged to an operator: ``<Dial>``'s reports -> call outcomes.

The caller's call is bridged with ``<Dial action=... ><Client statusCallback=...>``
(:func:`ivr.twilio.twiml.dial`).  Twilio then posts, each request signed::

    POST /twilio/operator-leg?operator=op101   ParentCallSid=<caller's CallSid>
         CallStatus=in-progress (answered)      -> OperatorAnswered   (the operator is on_call)
         CallStatus=completed                   -> nothing: the Dial action says how it ended
    POST /twilio/dialled?step=n&operator=op101  CallSid=<caller's CallSid>
         DialCallStatus=completed | answered    -> ConversationEnded  (the operator to wrap-up)
         DialCallStatus=no-answer|busy|failed   -> OperatorMissed     (back at the head of the
                                                   line; the caller holds again)
         DialCallStatus=canceled                -> CallerLeft         (hung up while it rang)

Without these routing would never hear "connected" or "ended" and the reservation would
expire in the middle of the conversation.  The moves are :mod:`ivr.aftermenu.life`'s.
"""

from __future__ import annotations

import logging

from ivr.aftermenu import CallerLeft, CallLife, ConversationEnded, OperatorAnswered, OperatorMissed
from ivr.aftermenu.legs import Legs
from routing.errors import RoutingError

log = logging.getLogger(__name__)
HANDOVER_NODE = "operator-handover"
MISSED = frozenset({"no-answer", "busy", "failed"})


class TwilioHandover:
    def __init__(self, *, life: CallLife) -> None:
        self.life = life

    def _mine(self, call_sid: str, operator: str) -> str | None:
        """The call's routing state when it is still handed to ``operator``, else None."""
        status = self.life.router.status(call_sid)
        a = status.assignment
        if a is None or a.kind != "call" or a.operator_id != operator:
            return None
        return status.state

    def leg(self, call_sid: str, operator: str, status: str, *, leg_sid: str = "") -> None:
        """The operator leg's status callback; ``call_sid`` is the caller's (ParentCallSid),
        ``leg_sid`` the operator leg's own CallSid."""
        if status not in ("in-progress", "answered"):
            return
        try:
            if self._mine(call_sid, operator) == "reserved":
                legs = Legs(call_sid, "twilio", operator, caller=call_sid, operator=leg_sid,
                            since=self.life.router.clock()) if leg_sid else None
                self.life.apply(OperatorAnswered(call_sid, legs))
        except RoutingError as exc:  # another engine process got there first
            log.info("call %s: answer not recorded: %s", call_sid, exc)

    def dial_over(self, call_sid: str, operator: str, dial_status: str) -> bool:
        """``<Dial action>``: the bridge is over.  True when the caller goes back in line."""
        try:
            state = self._mine(call_sid, operator)
            if dial_status in MISSED:
                if state == "reserved":
                    self.life.apply(OperatorMissed(call_sid, operator, dial_status))
                return self.life.router.status(call_sid).state in ("waiting", "reserved")
            if dial_status == "canceled":
                if state == "reserved":
                    self.life.apply(CallerLeft(call_sid, HANDOVER_NODE))
                return False
            if state == "reserved":  # the leg's "answered" was lost: they did talk
                self.life.apply(OperatorAnswered(call_sid))
                state = "connected"
            if state == "connected":
                self.life.apply(ConversationEnded(call_sid))
        except RoutingError as exc:
            log.info("call %s: end of the bridge not recorded: %s", call_sid, exc)
        return False
