"""The operator's desk: status, the pushed screen-pop, audited personal data, wrap-up.

Routes (role ``operator``; the operator id comes from the user, never from the request)::

    GET  /operator                              the page
    GET  /operator/events                       SSE: hello, pop, answered, ended, gone, state,
                                                supervisor (a supervisor whispering or barged in)
    POST /operator/api/state                    {"state": "ready" | "not_ready" | "break"};
                                                "not_ready" during a conversation: asked for
                                                after the call (its wrap-up ends in it)
    POST /operator/api/after-call/cancel        withdraws "not ready after this call"
    GET  /operator/api/calls/<id>               the screen-pop of one of my calls
    POST /operator/api/calls/<id>/reveal        {"field": "inn" | "snils"}: the full value, audited
    GET  /operator/calls/<id>/name-clip         the caller's spoken name (audio), audited
    POST /operator/api/calls/<id>/answered      the conversation began: routing's "connected",
                                                for calls whose telephony does not report it
                                                (no AMI: the terminal softphone; Twilio)
    POST /operator/api/calls/<id>/wrap-up       {"result", "status", "note"}: ends the call, sets
                                                the appeal's status; after-call work follows
    POST /operator/api/calls/<id>/recording/pause   the recording of a live, recorded call
    POST /operator/api/calls/<id>/recording/resume  muted / going on again (the citizen dictates
                                                a passport): through the call's telephony
                                                (:class:`ivr.recordings.pauses.RecordingPause`),
                                                audited (who, when) before the telephony acts

A call is the operator's while routing has it reserved for or connected to them, and
after that until they wrap it up (``{ivr}:console:handled:<id>``, a day).  Anything else
is refused (403), logged, and audited when it touched personal data.

The name clip comes from the recordings store (kind ``name``, decrypted as it is streamed,
:meth:`RecordingStore.open_name_clip`: the operator's one permission there), or - only
while the call's end has not yet stored it - from the plaintext clip in
``recordings.clip_dir``.  Every attempt, allowed or refused, goes to the store's audit log
as well as the console's.  Without a recording key no clip is kept at all: the screen
says so and the route answers 404 ``no_key``.
"""

from __future__ import annotations

import json
import logging
import os
import stat
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from flask import Blueprint, Response, current_app, jsonify, render_template, request, send_file

from ivr.aftermenu import (
    CallbackAnswered,
    CallbackNotAnswered,
    CallLife,
    ConversationEnded,
    OperatorAnswered,
)
from ivr.aftermenu.control import CallNotLive, LiveCallError, TelephonyFailed, Unsupported
from ivr.aftermenu.supervision import Supervision
from ivr.console.audit import ConsoleAudit
from ivr.console.auth import Principal, SecurityLog, attempt_refused, client_ip, current, requires
from ivr.console.hub import Event, EventHub, Subscription, event_id_ms
from ivr.console.screenpop import ScreenPops, context_of
from ivr.console.sse import EventStream, frame, sse_response
from ivr.console.texts import TEXTS
from ivr.recordings.clips import CallClips
from ivr.recordings.errors import AccessDenied, AlreadyPaused, NotPaused, PauseBusy, RecordingError
from ivr.recordings.pauses import RecordingPause
from ivr.recordings.store import RecordingStream
from routing.appeals import STATUS_NAMES, AppealBook
from routing.engine import Router
from routing.errors import InvalidTransition, RoutingError
from routing.model import Assignment, OperatorState
from routing.states import AFTER_CALL

log = logging.getLogger(__name__)
STATES: dict[str, OperatorState] = {"ready": "available", "not_ready": "offline", "break": "break"}
#: Wrap-up results; their words are the catalogue's ``op.result.<key>`` (the appeal's
#: log keeps the Russian ones).
RESULTS: dict[str, str] = {key.removeprefix("op.result."): str(entry["ru"])
                           for key, entry in TEXTS.items() if key.startswith("op.result.")}
NOTE_MAX = 2000
HANDLED_SECONDS = 86400
CLIP_MAX_BYTES = 10 << 20
CLIP_TYPES = {".wav": "audio/wav", ".mp3": "audio/mpeg", ".ogg": "audio/ogg", ".gsm": "audio/x-gsm"}
NO_KEY = "Запись имени не сохранена: нет ключа записи"  # "clip not kept: no recording key"
#: What the next operator of a consultation may do with the call's screen-pop before it is his.
CONSULT_READS = frozenset({"open_call", "show_inn", "show_snils"})


class DeskError(Exception):
    def __init__(self, status: int, kind: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.kind = kind
        self.message = message


@dataclass(frozen=True)
class Owned:
    call_id: str
    assignment: Assignment | None  # None: routing is done with it (ended), not wrapped up yet
    appeal: str | None
    kind: str


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


class OperatorDesk:
    def __init__(self, *, router: Router, appeals: AppealBook, pops: ScreenPops, audit: ConsoleAudit,
                 security: SecurityLog, redis: Any, prefix: str, clips: CallClips,
                 clock: Callable[[], float],
                 operator_answers: Callable[[str], bool] = lambda channel: True,
                 life: CallLife | None = None, pause: RecordingPause | None = None) -> None:
        self.router = router
        self.pause = pause  # the recording pause; None: no front end can pause here
        self.life = life or CallLife(router=router)
        # channel -> the operator's "answered" moves the call (no telephony event says so)
        self.operator_answers = operator_answers
        self.appeals = appeals
        self.pops = pops
        self.audit = audit
        self.security = security
        self.redis = redis
        self.tag = "{" + prefix + "}"
        self.clips = clips
        self.clock = clock

    def key_handled(self, call_id: str) -> str:
        return f"{self.tag}:console:handled:{call_id}"

    @property
    def key_wrapups(self) -> str:
        return f"{self.tag}:console:wrapups"

    # -- status -------------------------------------------------------------------------
    def set_state(self, operator: str, state: str) -> dict[str, Any]:
        wanted = STATES.get(state)
        if wanted is None:
            raise DeskError(400, "bad_state", "Состояние: ready, not_ready или break")
        for _ in range(2):  # the call may end between the two looks: then it is set at once
            try:
                self.router.set_operator_state(operator, wanted)
                return self.state_of(operator)
            except InvalidTransition as exc:
                if exc.details["current"] not in AFTER_CALL.get(wanted, frozenset()):
                    raise DeskError(409, "invalid_transition", f"Сейчас нельзя: {exc}") from None
            try:  # during a conversation: "not ready after this call"
                self.router.after_call(operator, wanted)
                return self.state_of(operator)
            except InvalidTransition:
                continue
            except RoutingError as exc:
                raise DeskError(409, "invalid_transition", f"Сейчас нельзя: {exc}") from None
        raise DeskError(409, "invalid_transition", "Сейчас нельзя: состояние меняется, повторите")

    def cancel_after_call(self, operator: str) -> dict[str, Any]:
        """Withdraws the state asked for after the call: available after it, as usual."""
        self.router.after_call(operator, None)
        return self.state_of(operator)

    def state_of(self, operator: str) -> dict[str, Any]:
        """The operator's state as routing holds it (one HMGET); ``after``: the state asked
        for after the current call, if any; ``why``: routing's reason when routing (not the
        operator) set the state ("missed")."""
        raw_state, raw_since, raw_after, raw_why = self.redis.hmget(
            self.router.keys.operator(operator), "state", "since", "after", "why")
        state = _text(raw_state) if raw_state else "offline"
        since = float(_text(raw_since)) if raw_since else 0.0
        wrap = self.router.settings.wrap_up_seconds
        return {"operator": operator, "name": self.router.operators[operator].name,
                "state": state, "since": since, "after": _text(raw_after) if raw_after else None,
                "why": _text(raw_why) if raw_why and state == "offline" else None,
                "wrap_until": since + wrap if state == "wrap_up" else None, "now": self.clock()}

    def hello(self, operator: str) -> dict[str, Any]:
        status = self.router.operator_status(operator)
        data = self.state_of(operator)
        data["pop"] = self.pop(status.assignment) if status.assignment is not None else None
        data["pending"] = self._pending(operator) if status.assignment is None else None
        return data

    def _pending(self, operator: str) -> dict[str, Any] | None:
        """A call routing is done with that this operator has not wrapped up (page reloaded)."""
        raw = self.redis.get(f"{self.tag}:console:pending:{operator}")
        if not raw:
            return None
        handled = self._handled(_text(raw))
        if handled is None or handled.get("operator") != operator or handled.get("wrapped") == "1":
            return None
        return {"call_id": _text(raw), "appeal": handled.get("appeal") or None,
                "kind": handled.get("kind", "call"), "outcome": self._what_became_of(_text(raw))}

    def _what_became_of(self, call_id: str) -> str:
        """The pop's words for a call left to wrap up after a reload: what routing made of it
        (a conversation that ended, or one that never took place)."""
        state, answered, failed = (_text(v) if v else "" for v in self.redis.hmget(
            self.router.keys.call(call_id), "state", "answered_at", "failed_at"))
        if state == "callback":
            return "callback_no_answer"
        if state == "gone" and failed:
            return "callback_failed"
        if state == "abandoned":
            return "abandoned"
        if state in ("waiting", "reserved") and not answered:
            return "expired"
        return "ended"

    # -- calls ----------------------------------------------------------------------------
    def pop(self, assignment: Assignment) -> dict[str, Any]:
        data = self.pops.pop(assignment)
        data["connected"] = self.router.status(assignment.call_id).state == "connected"
        data["answer_here"] = assignment.kind == "call" and self.operator_answers(str(data.get("channel") or ""))
        data["recording_paused"] = (self.pause is not None and data.get("recording") == "recording"
                                    and self.pause.pauses.state(assignment.call_id).paused)
        self._mark(assignment.call_id, assignment.operator_id, context_of(assignment).appeal,
                   assignment.kind)
        return data

    def _mark(self, call_id: str, operator: str, appeal: str | None, kind: str, *, wrapped: bool = False) -> None:
        """Remember whose call it is, so it can be wrapped up after routing is done with it."""
        key = self.key_handled(call_id)
        pending = f"{self.tag}:console:pending:{operator}"
        pipe = self.redis.pipeline(transaction=True)
        pipe.hsetnx(key, "operator", operator)
        pipe.hsetnx(key, "appeal", appeal or "")
        pipe.hsetnx(key, "kind", kind)
        pipe.hsetnx(key, "at", repr(self.clock()))
        if wrapped:
            pipe.hset(key, "wrapped", "1")
            pipe.delete(pending)
        else:
            pipe.set(pending, call_id, ex=HANDLED_SECONDS)
        pipe.expire(key, HANDLED_SECONDS)
        pipe.execute()

    def _handled(self, call_id: str) -> dict[str, str] | None:
        raw = self.redis.hgetall(self.key_handled(call_id))
        return {_text(k): _text(v) for k, v in raw.items()} if raw else None

    def _ended_by_routing(self, call_id: str) -> dict[str, str] | None:
        """A call telephony already ended (AMI, Twilio status) that no page showed: routing
        still knows its operator for an hour."""
        if not call_id or len(call_id) > 128:
            return None
        op, ctx, kind, state = self.redis.hmget(self.router.keys.call(call_id), "op", "ctx", "kind", "state")
        if not op or _text(state) != "gone":
            return None
        try:
            appeal = json.loads(_text(ctx)).get("appeal") if ctx else None
        except ValueError:
            appeal = None
        return {"operator": _text(op), "appeal": appeal or "", "kind": _text(kind) if kind else "call"}

    def key_left(self, call_id: str, operator: str) -> str:
        return f"{self.tag}:console:left:{call_id}:{operator}"

    def mark_left(self, call_id: str, operator: str) -> None:
        """The operator passed the call on (a transfer): his leg is his to wrap up, though
        the call is another's now."""
        handled = self._handled(call_id) or {}
        key = self.key_left(call_id, operator)
        self.redis.hset(key, mapping={"operator": operator, "appeal": handled.get("appeal", ""),
                                      "kind": handled.get("kind", "call")})
        self.redis.expire(key, HANDLED_SECONDS)

    def own(self, call_id: str, who: Principal, action: str) -> Owned:
        """The call if it is this operator's; otherwise refused and logged.  After a
        transfer each operator owns his own leg: the first one until he wraps it up (the
        call is another's meanwhile), the next one as any call routing gave him; during a
        consultation the next operator may read the screen-pop (:data:`CONSULT_READS`)."""
        assignment = self.pops.active(call_id)
        if assignment is not None and assignment.operator_id == who.operator:
            return Owned(call_id, assignment, context_of(assignment).appeal, assignment.kind)
        if assignment is not None and action in CONSULT_READS and who.operator is not None:
            under_way = self.router.consultation(call_id) if 0 < len(call_id) <= 128 else None
            if under_way is not None and under_way[2] == who.operator:
                return Owned(call_id, assignment, context_of(assignment).appeal, assignment.kind)
        candidates = [self._handled(call_id)]
        if assignment is None:
            candidates.append(self._ended_by_routing(call_id))
        if 0 < len(call_id) <= 128 and who.operator is not None:
            left = self.redis.hgetall(self.key_left(call_id, who.operator))
            candidates.append({_text(k): _text(v) for k, v in left.items()} if left else None)
        handled = next((h for h in candidates if h is not None and h.get("operator") == who.operator), None)
        if handled is not None:
            if handled.get("wrapped") == "1":
                raise DeskError(410, "wrapped_up", "Вызов уже завершён")
            return Owned(call_id, None, handled.get("appeal") or None, handled.get("kind", "call"))
        self.security.record("not_your_call", user=who.user, operator=who.operator,
                             call=call_id[:80], action=action, ip=client_ip())
        attempt_refused(who, "not_your_call")
        self._audit(who, action, call_id, "refused", "not this operator's call")
        raise DeskError(403, "not_your_call", "Это не ваш вызов")

    def _audit(self, who: Principal, action: str, call_id: str, outcome: str, detail: str | None = None) -> None:
        try:
            self.audit.record(actor=who.user, role=who.role, action=action, call=call_id,
                              outcome=outcome, ip=client_ip(), detail=detail)
        except OSError:
            log.exception("console audit could not be written")
            raise DeskError(503, "audit_unavailable", "Журнал доступа недоступен; доступ запрещён") from None

    def reveal(self, call_id: str, field: str, who: Principal) -> str:
        if field not in ("inn", "snils"):
            raise DeskError(400, "bad_field", "Поле: inn или snils")
        owned = self.own(call_id, who, f"show_{field}")
        if owned.assignment is None:
            raise DeskError(410, "call_over", "Разговор окончен; данные больше не показываются")
        value = getattr(context_of(owned.assignment), field)
        if not value:
            raise DeskError(404, "not_collected", "Меню не собрало это поле")
        self._audit(who, f"show_{field}", call_id, "allowed")
        return str(value)

    def clip(self, call_id: str, who: Principal) -> RecordingStream | tuple[IO[bytes], str]:
        """The caller's spoken name: from the store (decrypted, streamed) or, before the
        call's end has stored it, the plaintext clip.  Every attempt audited in both logs."""
        reason = f"screen-pop: the caller's spoken name, call {call_id[:80]}"
        try:
            owned = self.own(call_id, who, "listen_name_clip")
            if owned.assignment is None:
                raise DeskError(410, "call_over", "Разговор окончен")
        except DeskError as exc:
            self._store_refusal(call_id, who, reason, exc.message)
            raise
        assignment = owned.assignment
        name = context_of(assignment).name
        if name is None or not name.clip:
            raise DeskError(404, "no_clip", "Запись имени отсутствует")
        if self.clips.store.keyring is None:
            self._audit(who, "listen_name_clip", call_id, "failed", "clip not kept: no recording key")
            raise DeskError(404, "no_key", NO_KEY)
        for _ in range(2):  # the call's end may store it between the two looks
            rid = self.clips.name_recording(call_id)
            if rid is not None:
                return self._stored_clip(rid, call_id, who, assignment.operator_id, reason)
            plain = self._plaintext(name.clip)
            if plain is not None:
                path, f = plain
                try:
                    self._store_audit(who, f"clip:{path.name}", reason, "allowed",
                                      "served from the clip directory: not stored yet")
                    self._audit(who, "listen_name_clip", call_id, "allowed")
                except DeskError:
                    f.close()
                    raise
                return f, CLIP_TYPES[path.suffix]
        self._audit(who, "listen_name_clip", call_id, "failed", "clip not available")
        raise DeskError(404, "no_clip", "Файл записи имени недоступен")

    def _plaintext(self, clip: str) -> tuple[Path, IO[bytes]] | None:
        """The clip's plaintext file, opened without following a symlink: a regular file
        directly in ``recordings.clip_dir``, of a known audio type, not too large."""
        path = self.clips.clip_file(clip)
        if path is None or path.suffix not in CLIP_TYPES:
            return None
        try:
            fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
        except OSError:
            return None  # gone meanwhile (stored, destroyed) or swapped for a symlink
        f = os.fdopen(fd, "rb")
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode) or st.st_size > CLIP_MAX_BYTES:
            f.close()
            return None
        return path, f

    def _stored_clip(self, rid: str, call_id: str, who: Principal, assigned_to: str,
                     reason: str) -> RecordingStream:
        try:
            stream = self.clips.store.open_name_clip(rid, call_id=call_id, user=who.user, operator=who.operator,
                                                     assigned_to=assigned_to, reason=reason)
        except AccessDenied as exc:
            self._audit(who, "listen_name_clip", call_id, "refused", exc.message)
            attempt_refused(who, "not_your_call")
            raise DeskError(403, "not_your_call", "Это не ваш вызов") from None
        except RecordingError as exc:
            self._audit(who, "listen_name_clip", call_id, "failed", exc.message)
            raise DeskError(404, "no_clip", "Запись имени недоступна") from None
        except OSError:  # the recordings audit cannot be written: no access
            log.exception("recordings audit could not be written")
            raise DeskError(503, "audit_unavailable", "Журнал доступа недоступен; доступ запрещён") from None
        try:
            self._audit(who, "listen_name_clip", call_id, "allowed")
        except DeskError:
            stream.close()
            raise
        return stream

    def _store_refusal(self, call_id: str, who: Principal, reason: str, detail: str) -> None:
        """A refused attempt at a call's name clip also goes to the recordings audit."""
        rid = self.clips.name_recording(call_id) if 0 < len(call_id) <= 128 else None
        self._store_audit(who, rid or f"name-clip:{call_id[:64]}", reason, "refused", detail)

    def _store_audit(self, who: Principal, recording: str, reason: str, outcome: str, detail: str) -> None:
        try:
            self.clips.store.audit.record(actor=who.user, role=who.role, action="listen", recording=recording[:80],
                                          reason=reason, outcome=outcome, detail=detail)
        except OSError:
            log.exception("recordings audit could not be written")
            raise DeskError(503, "audit_unavailable", "Журнал доступа недоступен; доступ запрещён") from None

    def answered(self, call_id: str, who: Principal) -> dict[str, Any]:
        """The operator says the conversation began: routing's "connected" (the wait ends,
        the operator is on the call), as AMI's DialEnd does where there is AMI."""
        owned = self.own(call_id, who, "answered")
        a = owned.assignment
        if a is None:
            raise DeskError(410, "call_over", "Разговор окончен")
        if a.kind != "call" or not self.operator_answers(str(a.context.get("channel") or "")):
            raise DeskError(409, "telephony_answers", "Ответ на этот вызов фиксирует телефония")
        try:
            self.life.apply(OperatorAnswered(call_id))
        except RoutingError as exc:
            raise DeskError(409, "invalid_transition", f"Сейчас нельзя: {exc}") from None
        assert who.operator is not None
        return self.state_of(who.operator)

    def recording(self, call_id: str, who: Principal, *, pause: bool) -> dict[str, Any]:
        """Pause (or resume) the recording of the operator's live call.  Refused, audited and
        said on the page: not this operator's call, the call is over or not yet answered, it
        is not recorded, a second click (already paused / not paused / under way), the
        telephony failing (the recording stays as it was)."""
        action = "pause_recording" if pause else "resume_recording"
        owned = self.own(call_id, who, action)

        def refused(status: int, kind: str, message: str, detail: str) -> DeskError:
            self._audit(who, action, call_id, "refused", detail)
            return DeskError(status, kind, message)

        if owned.assignment is None:
            raise refused(410, "call_over", "Разговор окончен", "call over")
        recording = context_of(owned.assignment).recording
        if recording is None or recording.state != "recording":
            raise refused(409, "not_recorded", "Этот разговор не записывается", "not recorded")
        if self.pause is None:
            raise refused(409, "unsupported", "Телефония этого вызова не приостанавливает запись", "unsupported")
        act = self.pause.pause if pause else self.pause.resume
        audited: list[bool] = []  # the 'allowed' line is written: what follows is 'failed', not 'refused'

        def allowed() -> None:
            self._audit(who, action, call_id, "allowed")
            audited.append(True)

        def failed(status: int, kind: str, message: str, detail: str) -> DeskError:
            if not audited:
                return refused(status, kind, message, detail)
            try:
                self._audit(who, action, call_id, "failed", detail[:300])
            except DeskError:
                pass  # the 'allowed' line is there; the failure is in the engine's log
            return DeskError(status, kind, message)

        try:
            state = act(call_id, by=who.user, before=allowed)
        except CallNotLive as exc:
            now = self.router.status(call_id).state
            if now == "reserved":
                raise refused(409, "not_connected", "Разговор ещё не начался", "not connected") from None
            if now == "connected" and not audited:  # no legs, yet the call is still this operator's:
                # a telephony the engine cannot act through (the terminal softphone, Asterisk
                # without AMI) carries it; the call stays as it is
                raise refused(409, "unsupported", "Телефония этого вызова не приостанавливает запись",
                              "unsupported: no live legs") from None
            raise failed(410, "call_over", "Разговор окончен", f"call over: {exc}" if audited else "call over") from None
        except Unsupported:
            raise refused(409, "unsupported", "Телефония этого вызова не приостанавливает запись",
                          "unsupported") from None
        except AlreadyPaused:
            raise refused(409, "already_paused", "Запись уже приостановлена", "already paused") from None
        except NotPaused:
            raise refused(409, "not_paused", "Запись не приостановлена", "not paused") from None
        except PauseBusy:
            raise refused(409, "pause_busy", "Запрос уже выполняется", "under way") from None
        except TelephonyFailed as exc:
            log.error("call %s: %s failed: %s", call_id, action, exc)
            if pause:
                raise failed(502, "pause_failed", "Телефония не ответила: запись идёт, как шла",
                             f"telephony: {exc}") from None
            raise failed(502, "resume_failed", "Телефония не ответила: запись остаётся приостановленной",
                         f"telephony: {exc}") from None
        except LiveCallError as exc:  # the front end is busy with another action on the call
            raise failed(409, "pause_busy", "Запрос уже выполняется", f"telephony: {exc}") from None
        return {"call_id": call_id, "paused": state.paused, "since": state.since, "by": state.by}

    def wrap_up(self, call_id: str, who: Principal, *, result: str, status: str, note: str) -> dict[str, Any]:
        if result not in RESULTS:
            raise DeskError(400, "bad_result", "Выберите результат")
        if status not in STATUS_NAMES:
            raise DeskError(400, "bad_status", "Выберите статус обращения")
        if len(note) > NOTE_MAX:
            raise DeskError(400, "note_too_long", f"Заметка длиннее {NOTE_MAX} знаков")
        owned = self.own(call_id, who, "wrap_up")
        if result == "no_answer" and owned.kind != "callback":
            raise DeskError(400, "no_answer_result", "«Не дозвонились» — только для обратного звонка")
        assert who.operator is not None
        appeal = self.appeals.get(owned.appeal) if owned.appeal else None
        self._end_call(owned, answered=result != "no_answer")
        if appeal is not None:
            self.appeals.set_status(appeal.number, status, operator=who.operator,
                                    note=f"{RESULTS[result]}. {note}".strip())
        self._mark(call_id, who.operator, owned.appeal, owned.kind, wrapped=True)
        self.redis.xadd(self.key_wrapups, {"w": json.dumps({
            "call": call_id, "operator": who.operator, "user": who.user, "appeal": owned.appeal,
            "result": result, "status": status, "note": note, "at": self.clock()}, ensure_ascii=False)},
            maxlen=100_000, approximate=True)
        data = self.state_of(who.operator)
        data["appeal"] = owned.appeal
        data["appeal_status"] = STATUS_NAMES[status] if appeal is not None else None
        return data

    def _end_call(self, owned: Owned, *, answered: bool) -> None:
        """Tell routing the conversation is over (confirming it took place, if telephony did not)."""
        a = owned.assignment
        if a is None:
            return
        state = self.router.status(a.call_id).state
        if a.kind == "callback" and state == "reserved":
            assert a.callback_id is not None
            if not answered:
                self.life.apply(CallbackNotAnswered(a.callback_id, "operator: no answer"))
                return
            self.life.apply(CallbackAnswered(a.callback_id))
        elif state == "reserved":
            self.life.apply(OperatorAnswered(a.call_id))
        self.life.apply(ConversationEnded(a.call_id))

    # -- events -----------------------------------------------------------------------------
    def render(self, operator: str, *, shown: Callable[[dict[str, Any]], None] = lambda pop: None
               ) -> Callable[[Event], Iterable[bytes]]:
        """``shown``: told of each pop sent."""
        def render(event: Event) -> Iterable[bytes]:
            eid, ev = event
            kind, call_id = ev.get("type"), ev.get("call", "")
            if kind == "assigned":
                assignment = self.pops.active(call_id)
                if assignment is not None and assignment.operator_id == operator:
                    data = self.pop(assignment)
                    data["event_ms"] = event_id_ms(eid)
                    data["operator_state"] = self.state_of(operator)
                    shown(data)
                    yield frame("pop", data, eid)
            elif kind in ("consult", "took_over"):  # the next operator: the call he is consulted on, or now has
                assignment = self.pops.active(call_id)
                if assignment is not None:
                    data = self.pop(assignment)
                    data["consult"] = kind == "consult"
                    data["consult_by"] = ev.get("by") or ev.get("from") or ""
                    data["operator_state"] = self.state_of(operator)
                    shown(data)
                    yield frame("pop", data, eid)
            elif kind in ("transferred", "consult_began", "consult_over", "transfer_failed"):
                if ev.get("operator") == operator:  # the first operator's own page
                    yield frame("transfer", {"call_id": call_id, "what": kind, "how": ev.get("how", ""),
                                             "next": ev.get("next", ""), **self.state_of(operator)}, eid)
            elif kind == "consult_cancelled":
                yield frame("gone", {"call_id": call_id, **self.state_of(operator), "gone": kind}, eid)
            elif kind in ("answered", "ended", "callback_dialled"):
                yield frame(kind, {"call_id": call_id, **self.state_of(operator)}, eid)
            elif kind in ("abandoned", "reservation_expired", "missed", "callback_no_answer", "callback_failed"):
                # "gone": what became of the call; the state's own "why" is the operator's
                # (not ready: a missed call), so the two never share a key.
                yield frame("gone", {"call_id": call_id, **self.state_of(operator), "gone": kind}, eid)
            elif kind in ("operator_state", "after_call"):
                yield frame("state", self.state_of(operator), eid)

        return render


bp = Blueprint("operator", __name__, url_prefix="/operator")


def desk() -> OperatorDesk:
    service: OperatorDesk = current_app.extensions["ivr.console.operator"]
    return service


def me() -> Principal:
    who = current()
    assert who is not None and who.operator is not None
    return who


@bp.errorhandler(DeskError)
def desk_error(exc: DeskError) -> Any:
    return jsonify(error=exc.kind, message=exc.message), exc.status


@bp.get("")
@requires("operator")
def page() -> Any:
    who = me()
    return render_template("operator.html", operator=who.operator, results=RESULTS,
                           statuses=STATUS_NAMES)


@bp.get("/events")
@requires("operator")
def events() -> Any:
    who = me()
    service = desk()
    auth = current_app.extensions["ivr.console.auth"]
    hub: EventHub = current_app.extensions["ivr.console.hub"]
    operator = who.operator or ""
    since = request.headers.get("Last-Event-ID", "")
    supervisor = SupervisorOnCall(current_app.extensions["ivr.console.supervision"], operator)
    name = NameOnPop(service.pops, operator)
    render = service.render(operator, shown=name.shown)

    def start() -> tuple[Subscription, Iterable[bytes]]:
        sub = hub.subscribe(lambda ev: ev.get("operator") == operator)
        try:
            backlog = sub.backlog(since) if since and _valid_id(since) else []
            hello = service.hello(operator)
            hello["supervisor"] = supervisor.now()
            name.shown(hello["pop"])
            first = [frame("hello", hello)]
            for event in backlog:
                first.extend(render(event))
        except Exception:
            sub.close()
            raise
        return sub, first

    return sse_response(EventStream(start, render=render, alive=lambda: auth.principal(who.sid) is not None,
                                    tick=lambda: [*supervisor.changed(), *name.changed()], tick_every=1.0))


class SupervisorOnCall:
    """A supervisor the operator hears on their call (whisper or barge; silent listening is
    never shown): in ``hello`` (``"supervisor"``), then looked at each second and sent when it
    changes::

        event: supervisor
        data: {"mode": "whisper", "supervisor": "sveta", "call_id": "...", "since": ...}
              {"mode": null}: nobody
    """

    def __init__(self, supervision: Supervision, operator: str) -> None:
        self.supervision = supervision
        self.operator = operator
        self.sent: dict[str, Any] = {"mode": None}

    def now(self) -> dict[str, Any]:
        watch = self.supervision.heard_by(self.operator)
        self.sent = {"mode": None} if watch is None else {
            "mode": watch.mode, "supervisor": watch.supervisor, "call_id": watch.call_id, "since": watch.since}
        return self.sent

    def changed(self) -> Iterable[bytes]:
        before = self.sent
        if self.now() != before:
            yield frame("supervisor", self.sent)


NAME_WAIT = 60.0  # seconds a pop without its name's play button looks for it


class NameOnPop:
    """The caller's spoken name that could not be played when the pop was shown (behind
    Twilio its recording comes a few seconds after the call is assigned): looked at each
    second for :data:`NAME_WAIT` seconds while that call is the operator's, and sent once
    it can be played, so the pop's play button appears without a reload::

        event: name
        data: {"call_id": "...", "clip": true}
    """

    def __init__(self, pops: ScreenPops, operator: str, clock: Callable[[], float] = time.monotonic) -> None:
        self.pops = pops
        self.operator = operator
        self.clock = clock
        self.waiting: str | None = None  # the call whose pop shows no play button yet
        self.until = 0.0

    def shown(self, pop: Mapping[str, Any] | None) -> None:
        name = pop.get("name") if pop is not None else None
        if pop is None or not isinstance(name, Mapping):
            self.waiting = None
        else:  # no key (clip_note "no_key"): nothing will ever be kept to play
            self.waiting = str(pop["call_id"]) if not name.get("clip") and not name.get("clip_note") else None
            self.until = self.clock() + NAME_WAIT

    def changed(self) -> Iterable[bytes]:
        if self.waiting is None:
            return
        if self.clock() > self.until:  # a front end that keeps no file here: the call's end stores it
            self.waiting = None
            return
        assignment = self.pops.active(self.waiting)
        ctx = context_of(assignment) if assignment is not None else None
        if (assignment is None or assignment.operator_id != self.operator or ctx is None
                or ctx.name is None or not ctx.name.clip):
            self.waiting = None  # the call is over, or no name was ever said
            return
        if self.pops.name_playable(assignment):
            yield frame("name", {"call_id": self.waiting, "clip": True})
            self.waiting = None


def _valid_id(value: str) -> bool:
    ms, sep, seq = value.partition("-")
    return bool(sep) and ms.isdigit() and seq.isdigit() and len(value) < 40


def _json() -> dict[str, Any]:
    data = request.get_json(silent=True)
    return data if isinstance(data, dict) else request.form.to_dict()


@bp.post("/api/state")
@requires("operator")
def set_state() -> Any:
    return jsonify(desk().set_state(me().operator or "", str(_json().get("state", ""))))


@bp.post("/api/after-call/cancel")
@requires("operator")
def cancel_after_call() -> Any:
    return jsonify(desk().cancel_after_call(me().operator or ""))


@bp.get("/api/calls/<call_id>")
@requires("operator")
def call(call_id: str) -> Any:
    owned = desk().own(call_id, me(), "open_call")
    if owned.assignment is None:
        return jsonify(call_id=call_id, appeal=owned.appeal, kind=owned.kind, over=True)
    return jsonify(desk().pop(owned.assignment))


@bp.post("/api/calls/<call_id>/reveal")
@requires("operator")
def reveal(call_id: str) -> Any:
    field = str(_json().get("field", ""))
    return jsonify(field=field, value=desk().reveal(call_id, field, me()))


@bp.get("/calls/<call_id>/name-clip")
@requires("operator")
def name_clip(call_id: str) -> Any:
    try:
        clip = desk().clip(call_id, me())
    except DeskError as exc:
        return jsonify(error=exc.kind, message=exc.message), exc.status
    if isinstance(clip, RecordingStream):
        mimetype = CLIP_TYPES.get("." + clip.meta.audio_format, "application/octet-stream")
        response = Response(clip, mimetype=mimetype, direct_passthrough=True)
        response.headers["Content-Length"] = str(clip.meta.size)
    else:
        plaintext, mimetype = clip
        response = send_file(plaintext, mimetype=mimetype, conditional=False, max_age=0)
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.post("/api/calls/<call_id>/answered")
@requires("operator")
def answered(call_id: str) -> Any:
    return jsonify(desk().answered(call_id, me()))


@bp.post("/api/calls/<call_id>/wrap-up")
@requires("operator")
def wrap_up(call_id: str) -> Any:
    data = _json()
    return jsonify(desk().wrap_up(call_id, me(), result=str(data.get("result", "")),
                                  status=str(data.get("status", "")), note=str(data.get("note", ""))))


@bp.post("/api/calls/<call_id>/recording/pause")
@requires("operator")
def pause_recording(call_id: str) -> Any:
    return jsonify(desk().recording(call_id, me(), pause=True))


@bp.post("/api/calls/<call_id>/recording/resume")
@requires("operator")
def resume_recording(call_id: str) -> Any:
    return jsonify(desk().recording(call_id, me(), pause=False))
