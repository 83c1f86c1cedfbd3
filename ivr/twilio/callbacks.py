"""Where Twilio calls meet the routing engine outside a webhook: bridging a waiting call
the moment an operator is reserved, and callbacks placed with the REST API, followed by
the callback's own webhooks, reported to the routing engine.

    routing: due callback (operator reserved) ──place_callback──> calls.create(...)
    /twilio/callback/<id>          citizen answered  -> CallbackAnswered
    /twilio/callback/<id>/status   no-answer, busy,   -> CallbackNotAnswered
                                   failed, canceled      (retried later within the queue's hours)
                                   completed          -> ConversationEnded when it was answered

(outcomes for :mod:`ivr.aftermenu.life`, which moves the call)
"""

from __future__ import annotations

import logging
from typing import Any

from ivr.aftermenu import CallbackAnswered, CallbackNotAnswered, CallLife, ConversationEnded
from ivr.twilio.calls import Assignment as TwilioAssignment
from ivr.twilio.calls import TwilioCalls
from routing.engine import CALLBACK_PREFIX, Router
from routing.errors import RoutingError
from routing.model import Assignment

log = logging.getLogger(__name__)


class TwilioCallbackDialer:
    def __init__(self, *, calls: TwilioCalls, router: Router, life: CallLife | None = None) -> None:
        self.calls = calls
        self.router = router
        self.life = life or CallLife(router=router)

    def place_callback(self, assignment: Assignment) -> None:
        callback_id, number = assignment.callback_id, assignment.number
        if not callback_id or not number:
            return
        context: Any = assignment.context
        recording = (context.get("recording") or {}).get("state")
        try:
            self.calls.place_callback(
                callback_id, number, assignment.endpoint,
                language=context.get("language") or "ru",
                record=recording == "recording",
                appeal=context.get("appeal"),
            )
        except Exception as exc:  # noqa: BLE001 - one callback's failure must not stop the others
            log.error("twilio: callback %s could not be placed (%s)", callback_id, type(exc).__name__)
            self._report(callback_id, answered=False)

    def outcome(self, callback_id: str, status: str) -> None:
        """What the callback's webhooks said: 'answered' or the call's final status."""
        if status == "answered":
            self._report(callback_id, answered=True)
            return
        call_id = callback_id.removeprefix(CALLBACK_PREFIX)
        if status == "completed" and self.router.status(call_id).state in ("connected", "reserved"):
            try:
                self.life.apply(ConversationEnded(call_id))
            except RoutingError:
                pass
            return
        if status != "completed" or self.router.status(call_id).state != "gone":
            self._report(callback_id, answered=False)

    def _report(self, callback_id: str, *, answered: bool) -> None:
        try:
            self.life.apply(CallbackAnswered(callback_id) if answered else CallbackNotAnswered(callback_id))
        except RoutingError as exc:
            log.warning("twilio: callback %s result not recorded (%s)", callback_id, exc.error_id)


class AssignmentBridge:
    """Bridges a Twilio call the moment routing reserves an operator for it.

    The call waits on hold music in Twilio; instead of waiting for the next hold
    webhook, the engine's background loop reads the routing event stream and, for
    each ``assigned`` Twilio call, asks the front end to bridge it through the REST
    API (``calls(sid).update(twiml=<Dial>)``).  Several engine processes may all see
    the event: the front end's per-call lock and state check let only one bridge it.
    """

    def __init__(self, *, calls: TwilioCalls, router: Router) -> None:
        self.calls = calls
        self.router = router
        self.last_id = self._tail()

    def _tail(self) -> str:
        newest = self.router.redis.xrevrange(self.router.keys.events, count=1)
        if not newest:
            return "0-0"
        eid = newest[0][0]
        return eid.decode() if isinstance(eid, bytes) else str(eid)

    def poll(self) -> int:
        """Bridge the Twilio calls assigned since the last poll; how many were bridged."""
        bridged = 0
        for eid, event in self.router.events(self.last_id, count=500):
            self.last_id = eid
            if event.get("type") != "assigned" or event.get("kind") != "call":
                continue
            status = self.router.status(event.get("call", ""))
            assignment = status.assignment
            if assignment is None or assignment.context.get("channel") != "twilio":
                continue
            try:
                if self.calls.bridge_assigned(
                    assignment.call_id, TwilioAssignment(assignment.operator_id, assignment.endpoint)
                ):
                    bridged += 1
            except Exception as exc:  # noqa: BLE001 - the next hold webhook bridges it instead
                log.warning("twilio: REST bridge of a call failed (%s); the wait webhook will", type(exc).__name__)
        return bridged
