"""Callbacks placed through Asterisk: AMI ``Originate``, then the AMI events say how it went.

The routing engine reserves an operator for a callback whose turn came
(``router.due_callbacks()``); the engine's background work hands each one to
:meth:`AsteriskCallbackDialer.place_callback`, which originates
``Local/callback@hotline-callback`` (``dialplans/asterisk/extensions.conf``): the ``;2`` half
rings the operator; when they answer, the ``;1`` half dials the citizen.  We choose the
``;1`` half's ``Uniqueid`` (Originate ``ChannelId``), so its events are ours::

    Event: OriginateResponse   Uniqueid: <ours>  Response: Failure  Reason: 3
        -> the operator did not answer: callback_result(answered=False)
    Event: DialEnd             Uniqueid: <ours>  DialStatus: ANSWER | NOANSWER | BUSY | ...
        -> the citizen answered, or not: callback_result(answered=...)
    Event: Hangup              Uniqueid: <ours>
        -> answered: ConversationEnded;  never reported (no DialEnd): not answered

Each report is an outcome for :mod:`ivr.aftermenu.life` (CallbackAnswered /
CallbackNotAnswered / ConversationEnded).

Each callback is reported exactly once.  A callback that cannot be originated at all
(AMI down) is not reported: its reservation expires and it keeps its place in line.
"""

from __future__ import annotations

import logging
import threading
import uuid
from dataclasses import dataclass

from ivr.aftermenu import CallbackAnswered, CallbackNotAnswered, CallLife, ConversationEnded
from ivr.asterisk.ami import AmiClient, AmiError, CallbackCall, Message
from ivr.identity import mask_phone
from routing.engine import Router
from routing.errors import RoutingError
from routing.model import Assignment

log = logging.getLogger(__name__)


@dataclass
class _Dialling:
    assignment: Assignment
    callback_id: str
    reported: bool = False
    answered: bool = False


class AsteriskCallbackDialer:
    """``Engine.dialers["asterisk"]``.  Feed it the AMI client's events (``on_event``);
    :func:`ivr.asterisk.wiring.ami_services` does."""

    def __init__(self, *, router: Router, ami: AmiClient | None = None, life: CallLife | None = None) -> None:
        self.router = router
        self.life = life or CallLife(router=router)
        self.ami = ami
        self._lock = threading.Lock()
        self._dialling: dict[str, _Dialling] = {}  # the ;1 half's Uniqueid -> callback

    @property
    def in_progress(self) -> int:
        with self._lock:
            return len(self._dialling)

    def place_callback(self, assignment: Assignment) -> None:
        callback_id = assignment.callback_id or ""
        if self.ami is None or not callback_id or not assignment.number:
            log.error("callback %s cannot be placed (no AMI, id or number)", callback_id or "?")
            return
        channel_id = f"ivr-{callback_id}-{uuid.uuid4().hex[:8]}"
        with self._lock:
            self._dialling[channel_id] = _Dialling(assignment, callback_id)
        call = CallbackCall(callback_id=callback_id, number=assignment.number,
                            operator_endpoint=assignment.endpoint,
                            appeal=str(assignment.context.get("appeal") or ""))
        try:
            self.ami.originate_callback(call, channel_id=channel_id)
        except (AmiError, OSError) as exc:
            with self._lock:
                self._dialling.pop(channel_id, None)
            log.warning("callback %s: Originate failed (%s); it keeps its place", callback_id, exc)
            return
        log.info("callback %s: ringing %s, then %s", callback_id, assignment.operator_id,
                 mask_phone(assignment.number))

    # -- AMI events (the AMI client's reader thread) -------------------------------------

    def on_event(self, event: Message) -> None:
        try:
            self._on_event(event)
        except Exception:  # the AMI reader thread must survive anything
            log.exception("callback dialer: handling %s failed", event.get("Event", "?"))

    def _on_event(self, event: Message) -> None:
        name, uid = event.get("Event", ""), event.get("Uniqueid", "")
        with self._lock:
            dialling = self._dialling.get(uid)
        if dialling is None:
            return
        if name == "OriginateResponse" and event.get("Response") != "Success":
            self._report(dialling, answered=False, why=f"operator leg: reason {event.get('Reason', '?')}")
            self._forget(uid)
        elif name == "DialEnd":
            status = event.get("DialStatus", "")
            self._report(dialling, answered=status == "ANSWER", why=f"citizen leg: {status}")
        elif name == "Hangup":
            self._report(dialling, answered=False, why="ended before the citizen was dialled")
            if dialling.answered:
                self._ended(dialling)
            self._forget(uid)

    def _report(self, dialling: _Dialling, *, answered: bool, why: str) -> None:
        with self._lock:
            if dialling.reported:
                return
            dialling.reported, dialling.answered = True, answered
        log.info("callback %s: %s (%s)", dialling.callback_id, "answered" if answered else "not answered", why)
        try:
            self.life.apply(CallbackAnswered(dialling.callback_id) if answered
                            else CallbackNotAnswered(dialling.callback_id, why))
        except RoutingError as exc:
            log.warning("callback %s: result not recorded: %s", dialling.callback_id, exc)

    def _ended(self, dialling: _Dialling) -> None:
        try:
            self.life.apply(ConversationEnded(dialling.assignment.call_id))
        except RoutingError as exc:
            log.warning("callback %s: end not recorded: %s", dialling.callback_id, exc)

    def _forget(self, uid: str) -> None:
        with self._lock:
            self._dialling.pop(uid, None)
