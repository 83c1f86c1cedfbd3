"""Callbacks placed to ``ivr call`` softphones: the engine's dialer where there is no AMI.

``Engine.dialers["asterisk"]`` without AMI.  Like :class:`ivr.asterisk.dialer.AsteriskCallbackDialer`
it is handed each due callback (an operator reserved for it) and tells routing what
became of it, from what the softphone's line says instead of Asterisk's events::

    no softphone line for the number, or it cannot be reached  -> callback_result(answered=False)
    RING ... ; ANSWER                                            -> callback_result(answered=True)
    RING ... ; REJECT | BUSY | nothing in time | closed         -> callback_result(answered=False)
    answered, then HANGUP or the line closed                    -> ConversationEnded
    MISSED ... ; HANGUP | the line cannot be reached            -> CallerLeft (rang, hung up)

And where the terminal softphone has no Dial to come back from: a call handed to an
operator who did not answer (:class:`~ivr.aftermenu.OperatorMissed`, the ring time passed
with no "answered") is back at the head of its line in routing; :meth:`SoftphoneDialer.outcome`
tells the softphone that placed it (``MISSED <call id> <operator>``), which then dials in
again with ``resume`` as Asterisk's ``[operator-handover]`` does after ``Dial``.

Each callback rings on a thread of its own (the engine's tick must not wait on a person).
"""

from __future__ import annotations

import logging
import socket
import threading
from collections.abc import Mapping

from ivr.aftermenu import (
    CallbackAnswered,
    CallbackNotAnswered,
    CallerLeft,
    CallLife,
    ConversationEnded,
    OperatorAnswered,
    OperatorMissed,
)
from ivr.aftermenu.life import Applied
from ivr.asterisk.handover import HANDOVER_NODE
from ivr.identity import mask_phone
from ivr.softphone import wire
from ivr.softphone.registry import SoftphoneRegistry
from routing.engine import Router
from routing.errors import RoutingError
from routing.model import Assignment

log = logging.getLogger(__name__)
CONNECT_SECONDS = 2.0


class SoftphoneDialer:
    def __init__(self, *, router: Router, registry: SoftphoneRegistry, life: CallLife | None = None) -> None:
        self.router = router
        self.registry = registry
        self.life = life or CallLife(router=router)

    def takes_call(self, env: Mapping[str, str]) -> bool:
        """A call came in over FastAGI: can a callback reach its caller?  Only when it is a
        softphone that said where it answers (remembered for when the callback is due)."""
        contact = wire.contact_of(env)
        if contact is None:
            return False
        self.registry.register_call(env.get("agi_uniqueid", ""), contact)  # told if its operator misses it
        return self.registry.register(env.get("agi_callerid", ""), contact)

    def outcome(self, applied: Applied) -> None:
        """A :class:`~ivr.aftermenu.life.CallLife` listener: a softphone's call its operator
        missed is told so (on a thread: a softphone that does not read must not hold the
        engine's tick)."""
        o = applied.outcome
        if isinstance(o, OperatorAnswered):
            contact = self.registry.call_contact(o.call_id)
            if contact is not None:
                threading.Thread(target=self._tell_answered, args=(contact, o.call_id), daemon=True,
                                 name=f"softphone-answered-{o.call_id}").start()
            return
        if not isinstance(o, OperatorMissed) or not applied.misses:
            return
        contact = self.registry.call_contact(o.call_id)
        if contact is not None:
            threading.Thread(target=self._tell_missed, args=(contact, o), daemon=True,
                             name=f"softphone-missed-{o.call_id}").start()

    def _tell_answered(self, contact: tuple[str, int], call_id: str) -> None:
        """``ANSWERED``: the person at the softphone learns that the conversation is on."""
        assignment = self.router.status(call_id).assignment
        if assignment is None:
            return
        operator = assignment.operator_id
        try:
            with socket.create_connection(contact, timeout=CONNECT_SECONDS) as sock:
                sock.sendall(wire.answered(call_id, operator))
        except OSError as exc:
            log.info("call %s: softphone not told of the answer (%s)", call_id, type(exc).__name__)

    def _tell_missed(self, contact: tuple[str, int], o: OperatorMissed) -> None:
        """``MISSED``; the softphone is gone (or answers ``HANGUP``: its caller hung up
        while the phone rang, which only it knows) -> the caller left, so the call is not
        offered to one operator after another, each then "missed"."""
        try:
            with socket.create_connection(contact, timeout=CONNECT_SECONDS) as sock:
                sock.sendall(wire.missed(o.call_id, o.operator_id))
                sock.settimeout(CONNECT_SECONDS)
                reply = _read(sock.makefile("rb"))
            gone = reply is not None and reply.verb == "HANGUP"
        except TimeoutError:
            gone = False  # a softphone slow to close is still there
        except OSError as exc:
            log.info("call %s: softphone unreachable (%s): the caller has gone", o.call_id, type(exc).__name__)
            gone = True
        if not gone:
            return
        try:
            self.life.apply(CallerLeft(o.call_id, HANDOVER_NODE))
        except RoutingError as exc:
            log.info("call %s: caller's departure not recorded: %s", o.call_id, exc)

    def place_callback(self, assignment: Assignment) -> None:
        threading.Thread(target=self._ring_logged, args=(assignment,), daemon=True,
                         name=f"softphone-{assignment.callback_id}").start()

    def ring_seconds(self, assignment: Assignment) -> int:
        """The queue's ring time, within the operator's reservation (which would expire first)."""
        queue = self.router.queues.get(assignment.queue)
        ring = queue.callback.ring_seconds if queue is not None else 30
        return max(1, min(ring, self.router.settings.reservation_seconds - 2))

    def _ring_logged(self, assignment: Assignment) -> None:
        """The line's thread: whatever fails (Redis gone at shutdown) is logged as the
        engine's logs are, not left to Python's thread hook on stderr."""
        try:
            self._ring(assignment)
        except Exception:
            log.exception("callback %s: following the softphone's line failed", assignment.callback_id)

    def _ring(self, assignment: Assignment) -> None:
        callback_id, number = assignment.callback_id or "", assignment.number or ""
        contact = self.registry.contact(number)
        if contact is None:
            self._report(callback_id, answered=False, why=f"no softphone answers {mask_phone(number)}")
            return
        seconds = self.ring_seconds(assignment)
        try:
            with socket.create_connection(contact, timeout=CONNECT_SECONDS) as sock:
                sock.sendall(wire.ring(callback_id, seconds))
                sock.settimeout(seconds)
                lines = sock.makefile("rb")
                reply = _read(lines)
                answered = reply is not None and reply.verb == "ANSWER"
                self._report(callback_id, answered=answered,
                             why=f"softphone: {reply.verb if reply else 'no answer'}")
                if not answered:
                    return
                sock.settimeout(None)  # the conversation lasts until the softphone hangs up
                while (said := _read(lines)) is not None and said.verb != "HANGUP":
                    pass
        except TimeoutError:
            self._report(callback_id, answered=False, why=f"softphone: no answer in {seconds} s")
            return
        except OSError as exc:
            self._report(callback_id, answered=False, why=f"softphone unreachable ({type(exc).__name__})")
            return
        try:
            self.life.apply(ConversationEnded(assignment.call_id))
            log.info("callback %s: the citizen hung up", callback_id)
        except RoutingError as exc:  # the operator's wrap-up ended it first
            log.info("callback %s: end not recorded: %s", callback_id, exc)

    def _report(self, callback_id: str, *, answered: bool, why: str) -> None:
        log.info("callback %s: %s (%s)", callback_id, "answered" if answered else "not answered", why)
        try:
            self.life.apply(CallbackAnswered(callback_id) if answered else CallbackNotAnswered(callback_id, why))
        except RoutingError as exc:
            log.warning("callback %s: result not recorded: %s", callback_id, exc)


def _read(lines: object) -> wire.Message | None:
    """The next message, or None when the line closed or spoke nonsense."""
    raw = lines.readline(wire.MAX_LINE + 2)  # type: ignore[attr-defined]
    if not raw:
        return None
    try:
        return wire.parse(raw)
    except wire.LineError as exc:
        log.warning("softphone line: %s", exc)
        return None
