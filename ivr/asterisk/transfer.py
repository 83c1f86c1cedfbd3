"""Transfers on Asterisk over AMI: what the operator's screen-pop asks, as Asterisk 22 does it.

Routing moves first (:mod:`ivr.aftermenu.life`); these only move audio.  Verified on the
real Asterisk 22 of the test tier (``tests/integration/test_transfer_real.py``):

* blind (:func:`redirect`): ``Redirect`` of the caller's channel (the one running ``Dial``
  in ``[operator-handover]``) to ``[operator-transfer]``; Asterisk hangs up the operator's
  leg, and the dialplan returns the caller to the engine (``AGI(...,resume,TRANSFER)``),
  which holds them at the head of the line routing put them in::

      Action: Redirect  Channel: PJSIP/trunk-00000001  Context: operator-transfer  Exten: s  Priority: 1
      Response: Success  Message: Redirect successful

* warm (:func:`consult`): ``Setvar`` ``__IVR_CONSULT_ENDPOINT`` / ``__IVR_CONSULT_CALL``
  on the operator's channel (inherited by the consultation's Local channel), then
  ``Atxfer`` (``Context: operator-consult``, ``Exten: 1``).  Asterisk answers at once
  ``Response: Success  Message: Atxfer successfully queued``: it queued the attended-transfer
  feature's keys (Dial's ``t`` option gives the operator that feature), which is no proof
  the consultation began, so the engine waits for the ``[operator-consult]`` context's
  ``UserEvent: IvrConsult  Status: DIALLING`` of this call.
* complete (:func:`complete`): ``Hangup`` of the operator's channel: the attended transfer
  completes, the caller and the next operator are bridged (``AttendedTransfer``
  ``Result: Success``).
* cancel (:func:`cancel`): ``CancelAtxfer`` (Asterisk 13.18+: queues the ``atxferabort``
  keys) on the operator's channel: the next operator's leg ends, the caller is back.

The next operator's phone not answering the consultation (``UserEvent: IvrConsult
Status: NOANSWER | BUSY | CHANUNAVAIL ...``) ends it: :class:`ConsultWatcher` tells routing
(``ConsultCancelled``), so nobody stays reserved.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from ivr.aftermenu.control import CallNotLive, TelephonyFailed
from ivr.aftermenu.legs import Legs
from ivr.asterisk.ami import AmiClient, AmiError, Message

log = logging.getLogger(__name__)

TRANSFER_CONTEXT = "operator-transfer"  # [operator-transfer]: AGI(${IVR_AGI},resume,TRANSFER)
RESUME_TRANSFER = "TRANSFER"  # agi_arg_2 of the call the dialplan hands back after a transfer
CONSULT_CONTEXT, CONSULT_EXTEN = "operator-consult", "1"
CONSULT_EVENT = "IvrConsult"  # UserEvent(IvrConsult,Call: <call id>,Status: DIALLING | <DIALSTATUS>)
CONSULT_STARTS_WITHIN = 5.0  # seconds from Atxfer to the consultation's first UserEvent
PEER_WITHIN = 3.0  # seconds for the caller's bridge peer to settle after a transfer


def _action(ami: AmiClient, name: str, fields: dict[str, str]) -> Message:
    """One AMI action; a refusal or silence is :class:`TelephonyFailed` ("No such channel":
    the call just ended, :class:`CallNotLive`)."""
    try:
        return ami.action(name, fields)
    except AmiError as exc:
        message = (exc.response or {}).get("Message", "")
        if "No such channel" in message or "does not exist" in message:
            raise CallNotLive(f"{name}: {message}") from exc
        raise TelephonyFailed(f"{name}: {exc}") from exc


class ConsultEvents:
    """The ``IvrConsult`` UserEvents, as they come from AMI's reader thread: a consult
    waits for its call's first one."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._seen: dict[str, str] = {}  # call id -> the last Status

    def on_event(self, event: Message) -> None:
        if event.get("Event") != "UserEvent" or event.get("UserEvent") != CONSULT_EVENT:
            return
        with self._cond:
            self._seen[event.get("Call", "")] = event.get("Status", "")
            if len(self._seen) > 1000:
                self._seen.pop(next(iter(self._seen)))
            self._cond.notify_all()

    def forget(self, call_id: str) -> None:
        with self._cond:
            self._seen.pop(call_id, None)

    def wait(self, call_id: str, timeout: float) -> str | None:
        deadline = time.monotonic() + timeout
        with self._cond:
            while call_id not in self._seen:
                left = deadline - time.monotonic()
                if left <= 0:
                    return None
                self._cond.wait(left)
            return self._seen[call_id]


def operator_channel(ami: AmiClient, legs: Legs) -> str:
    """The operator's channel of the conversation: the one DialEnd named, or - after a warm
    transfer, whose next operator's leg only Asterisk knows - the caller's bridge peer."""
    if legs.operator:
        return legs.operator
    deadline = time.monotonic() + PEER_WITHIN
    while True:
        peer = _action(ami, "Getvar", {"Channel": legs.caller, "Variable": "BRIDGEPEER"}).get("Value", "")
        if peer and ";" not in peer:  # a Local channel's half: being optimised away
            return peer
        if time.monotonic() > deadline:
            if peer:
                return peer
            raise TelephonyFailed(f"no operator's channel bridged to {legs.caller}")
        time.sleep(0.1)


def redirect(ami: AmiClient, legs: Legs) -> None:
    _action(ami, "Redirect", {"Channel": legs.caller, "Context": TRANSFER_CONTEXT, "Exten": "s",
                              "Priority": "1"})


def consult(ami: AmiClient, events: ConsultEvents, legs: Legs, operator_id: str, endpoint: str,
            *, within: float = CONSULT_STARTS_WITHIN) -> None:
    channel = operator_channel(ami, legs)
    events.forget(legs.call_id)
    for name, value in (("__IVR_CONSULT_ENDPOINT", endpoint), ("__IVR_CONSULT_CALL", legs.call_id),
                        ("__IVR_CONSULT_OPERATOR", operator_id)):
        _action(ami, "Setvar", {"Channel": channel, "Variable": name, "Value": value})
    _action(ami, "Atxfer", {"Channel": channel, "Context": CONSULT_CONTEXT, "Exten": CONSULT_EXTEN})
    status = events.wait(legs.call_id, within)
    if status is None:
        raise TelephonyFailed(f"Atxfer on {channel}: the consultation did not start within {within:.0f} s")
    if status != "DIALLING":
        raise TelephonyFailed(f"the consultation ended at once: {status}")


def complete(ami: AmiClient, legs: Legs) -> None:
    _action(ami, "Hangup", {"Channel": operator_channel(ami, legs)})


def cancel(ami: AmiClient, legs: Legs) -> None:
    _action(ami, "CancelAtxfer", {"Channel": operator_channel(ami, legs)})


class ConsultWatcher:
    """The next operator's phone did not answer the consultation (``IvrConsult`` with a
    ``DIALSTATUS`` other than ``ANSWER``): the consultation is over, routing releases him.
    ``cancel(call_id)`` is the console's "cancel" for the call's current consultation."""

    def __init__(self, *, cancel: Callable[[str], object]) -> None:
        self.cancel = cancel

    def on_event(self, event: Message) -> None:
        if event.get("Event") != "UserEvent" or event.get("UserEvent") != CONSULT_EVENT:
            return
        status, call_id = event.get("Status", ""), event.get("Call", "")
        if not call_id or status in ("DIALLING", "ANSWER"):
            return
        try:
            self.cancel(call_id)
        except Exception:  # the AMI reader thread must survive anything
            log.exception("call %s: the consultation's end (%s) not recorded", call_id, status)
