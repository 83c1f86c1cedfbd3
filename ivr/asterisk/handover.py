"""What became of a call the engine handed to an operator: AMI events -> the routing engine.

The engine ends its FastAGI session with ``IVR_STATUS=connect`` and the operator it
reserved; the dialplan then Dials ``${IVR_OPERATOR_ENDPOINT}`` on the same channel, whose
``Uniqueid`` is the engine's call id (``agi_uniqueid``).  Only AMI sees the rest::

    Event: DialEnd  Uniqueid: <call id>  DialStatus: ANSWER
        -> router.connected(call)     the operator goes on_call, the wait is measured
    Event: DialEnd  Uniqueid: <call id>  DialStatus: NOANSWER | BUSY | CANCEL | ...
        -> router.abandon(call)       the operator is free again; the dialplan's
                                      fallback Queue() takes the caller
    Event: Hangup   Uniqueid: <call id>
        -> router.ended(call)         connected: the operator goes to wrap-up
        -> router.abandon(call)       still reserved: the caller left while it rang

Without this the routing engine never hears of the hand-over: the reservation expires
and the call, long gone from the menu, is put back in line and reserved again and again.
"""

from __future__ import annotations

import logging

from ivr.asterisk.ami import Message
from routing.engine import Router
from routing.errors import RoutingError

log = logging.getLogger(__name__)
HANDOVER_NODE = "operator-handover"  # where an abandoned hand-over is recorded


class HandoverWatcher:
    def __init__(self, *, router: Router) -> None:
        self.router = router

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
            if name == "DialEnd" and status.state == "reserved":
                if event.get("DialStatus") == "ANSWER":
                    self.router.connected(call_id)
                    log.info("call %s: %s answered", call_id, status.assignment.operator_id)
                else:
                    self.router.abandon(call_id, node=HANDOVER_NODE)
                    log.info("call %s: %s did not answer (%s)", call_id,
                             status.assignment.operator_id, event.get("DialStatus", "?"))
            elif name == "Hangup":
                if status.state == "connected":
                    self.router.ended(call_id)
                elif status.state == "reserved":
                    self.router.abandon(call_id, node=HANDOVER_NODE)
        except RoutingError as exc:  # another engine process got there first
            log.info("call %s: %s not recorded: %s", call_id, name, exc)
