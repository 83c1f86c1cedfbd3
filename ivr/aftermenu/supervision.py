"""Supervisors on live calls: who listens, whispers or barges in on which call, audited.

A supervisor starts on an operator's live call from the dashboard; the call's telephony
rings the supervisor's phone into the call (:meth:`LiveControl.spy`: ChanSpy on Asterisk,
a coaching / muted conference participant on Twilio).  One supervisor is on at most one
call at a time (they have one phone): starting on another call, or in another mode, ends
the first (``switched``) and starts again.

Every start and every end is a line of the console audit (who, which call, which mode;
the log adds when), written before the phone rings: a start whose line cannot be
written is refused.  An end comes from the supervisor (``stopped``), a switch
(``switched``), the telephony (``hung_up``: the supervisor's leg ended, e.g. the call
ended and ChanSpy exited, the phone was put down or never answered), or the call's legs
found gone (``call_ended``).  A call that ends takes the supervisor's leg with it, and
the telephony's word for that leg comes a moment after the call's own: a look in between
hides the watch (it is on no live call) but leaves its end to that word for
:data:`GONE_GRACE` seconds, so the first real cause is the one audited.  Twilio says
nothing of a participant's leg: its watches end ``call_ended`` at the first look after
the grace, or at once when the supervisor stops or starts on another call.

Keys (hash-tagged like routing's): ``{prefix}:supervision`` HASH supervisor -> JSON of
:class:`Watch`; ``{prefix}:supervision:gone`` HASH handle -> when a look first found its
call's legs gone.  A handful of supervisors: the operator page's look is one HGETALL.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any, Protocol

from ivr.aftermenu.control import (
    CallNotLive,
    Controls,
    LiveCallError,
    SpyMode,
    TelephonyFailed,
    Unsupported,
)

log = logging.getLogger(__name__)
MODES: tuple[SpyMode, ...] = ("listen", "whisper", "barge")
BUSY_SECONDS = 15  # a start holds the supervisor's lock at most this long (AMI answers within 10 s)
GONE_GRACE = 5.0  # seconds a legless watch waits for the telephony's word before ending as call_ended
STOPPING_SECONDS = 15  # the telephony's word for a leg the console hangs up is the stop's this long
HEARD_BY_OPERATOR: frozenset[str] = frozenset({"whisper", "barge"})  # the operator's page says so
_TAKE = """
local raw = redis.call('HGET', KEYS[1], ARGV[1])
if raw and cjson.decode(raw).handle == ARGV[2] then
  redis.call('HDEL', KEYS[1], ARGV[1])
  redis.call('HDEL', KEYS[2], ARGV[2])
  return raw
end
return false
"""


class SupervisionError(Exception):
    """A supervisor's request that cannot be carried out (``kind`` for the page)."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind


class Audit(Protocol):
    def record(self, *, actor: str, role: str, action: str, call: str, outcome: str,
               ip: str | None = None, detail: str | None = None) -> dict[str, Any]: ...


@dataclass(frozen=True)
class Watch:
    """One supervisor on one live call."""

    supervisor: str  # the console user
    call_id: str
    operator_id: str
    mode: SpyMode
    handle: str  # the telephony's handle of the supervisor's leg
    front: str
    phone: str
    since: float

    def to_json(self) -> str:
        return json.dumps(asdict(self), separators=(",", ":"))

    @classmethod
    def from_json(cls, raw: str | bytes) -> Watch:
        return cls(**json.loads(raw))


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


class Supervision:
    def __init__(self, *, redis: Any, prefix: str, controls: Callable[[], Controls], audit: Audit,
                 phone_of: Callable[[str], str | None], clock: Callable[[], float]) -> None:
        self.redis = redis
        self.key = "{" + prefix + "}:supervision"
        self.gone_key = self.key + ":gone"
        self.controls = controls
        self.audit = audit
        self.phone_of = phone_of
        self.clock = clock
        self._take = redis.register_script(_TAKE)

    # -- reading ------------------------------------------------------------------------------
    def _all(self) -> list[Watch]:
        return [Watch.from_json(raw) for raw in self.redis.hvals(self.key)]

    def watches(self) -> list[Watch]:
        """Every supervisor on a call now (a watch whose call has ended is not)."""
        return [watch for watch in self._all() if not self._gone(watch)]

    def of(self, supervisor: str) -> Watch | None:
        return next((w for w in self.watches() if w.supervisor == supervisor), None)

    def heard_by(self, operator_id: str) -> Watch | None:
        """A supervisor the operator hears (whisper, barge); silent listening is not shown."""
        return next((w for w in self._all()
                     if w.operator_id == operator_id and w.mode in HEARD_BY_OPERATOR and not self._gone(w)), None)

    def _gone(self, watch: Watch) -> bool:
        """Whether ``watch``'s call has ended; after :data:`GONE_GRACE` without the telephony's
        word for the supervisor's leg, its end is audited as ``call_ended``."""
        if self.controls().legs.get(watch.call_id) is not None:
            return False
        now = self.clock()
        pipe = self.redis.pipeline(transaction=False)
        pipe.hsetnx(self.gone_key, watch.handle, repr(now))
        pipe.hget(self.gone_key, watch.handle)
        since = pipe.execute()[-1]
        if since is None or now - float(_text(since)) >= GONE_GRACE:
            self._close(watch, "call_ended")
        return True

    def live_calls(self, call_ids: list[str]) -> set[str]:
        """Those of ``call_ids`` bridged by a telephony now (a supervisor may join them)."""
        legs = self.controls().legs
        return {call_id for call_id in call_ids if legs.get(call_id) is not None}

    # -- acting ----------------------------------------------------------------------------------
    def start(self, supervisor: str, *, role: str, call_id: str, mode: str, ip: str | None = None) -> Watch:
        """Ring the supervisor's phone into ``call_id`` in ``mode``; one start at a time per
        supervisor (a double click, two tabs: the second is refused, nothing rings twice)."""
        if mode not in MODES:
            raise SupervisionError("bad_mode", "Режим: listen, whisper или barge")
        phone = self.phone_of(supervisor)
        if not phone:
            raise SupervisionError("no_phone", "У супервизора не указан телефон (ivr users add --phone)")
        busy = f"{self.key}:busy:{supervisor}"
        if not self.redis.set(busy, "1", nx=True, ex=BUSY_SECONDS):
            raise SupervisionError("busy", "Предыдущая команда ещё выполняется")
        try:
            return self._start(supervisor, role=role, call_id=call_id, mode=mode, phone=phone, ip=ip)
        finally:
            self.redis.delete(busy)

    def _start(self, supervisor: str, *, role: str, call_id: str, mode: SpyMode, phone: str,
               ip: str | None) -> Watch:
        current = self._mine(supervisor)
        if current is not None and self._gone(current):
            self._close(current, "call_ended")  # moving on: the old call's end is not waited for
            current = None
        if current is not None and (current.call_id, current.mode) == (call_id, mode):
            return current
        try:
            legs, control = self.controls().of(call_id)
        except LiveCallError as exc:
            self._record(supervisor, role, "supervise_start", call_id, "refused", ip,
                         f"mode={mode} why={_why(exc)}")
            raise
        if current is not None:
            self.stop(supervisor, role=role, ip=ip, reason="switched")
        detail = f"mode={mode} operator={legs.operator_id} phone={phone}"
        self._record(supervisor, role, "supervise_start", call_id, "allowed", ip, detail)
        try:
            handle = control.spy(legs, phone, mode)
        except LiveCallError as exc:
            self._record(supervisor, role, "supervise_start", call_id, "failed", ip, f"mode={mode} why={_why(exc)}")
            raise
        watch = Watch(supervisor, call_id, legs.operator_id, mode, handle, legs.front,
                      phone, self.clock())
        self.redis.hset(self.key, supervisor, watch.to_json())
        return watch

    def _mine(self, supervisor: str) -> Watch | None:
        raw = self.redis.hget(self.key, supervisor)
        return None if raw is None else Watch.from_json(raw)

    def stop(self, supervisor: str, *, role: str = "supervisor", ip: str | None = None,
             reason: str = "stopped") -> Watch | None:
        """The supervisor leaves the call: their leg is hung up, the end audited."""
        watch = self._mine(supervisor)
        if watch is None:
            return None
        legs = self.controls().legs.get(watch.call_id)
        front = self.controls().fronts.get(watch.front)  # type: ignore[call-overload]
        if legs is not None and front is not None:
            # The leg's hang-up comes back as the telephony's word (AMI's Hangup, on another
            # thread, perhaps before this returns): it is this stop's, whose reason is audited.
            stopping = self._stopping_key(watch.handle)
            self.redis.set(stopping, reason, ex=STOPPING_SECONDS)
            try:
                front.stop_spying(legs, watch.handle)  # TelephonyFailed: still on, try again
            except Exception:
                self.redis.delete(stopping)
                raise
        return watch if self._close(watch, reason if legs is not None else "call_ended", role=role, ip=ip) else None

    def _stopping_key(self, handle: str) -> str:
        return f"{self.key}:stopping:{handle}"

    def ended(self, handle: str, cause: str = "") -> Watch | None:
        """The telephony says the supervisor's leg ended (hung up, not answered, the call ended);
        a leg the console is hanging up itself is that stop's to audit."""
        watch = next((w for w in self._all() if w.handle == handle), None)
        if watch is None or self.redis.exists(self._stopping_key(handle)):
            return None
        return watch if self._close(watch, "hung_up", cause=cause) else None

    def _close(self, watch: Watch, reason: str, *, role: str = "supervisor", ip: str | None = None,
               cause: str = "") -> bool:
        """Forget the watch and audit its end, once, whoever gets here first."""
        if not self._take(keys=[self.key, self.gone_key], args=[watch.supervisor, watch.handle]):
            return False
        detail = f"mode={watch.mode} reason={reason} seconds={max(0, round(self.clock() - watch.since))}"
        if cause:
            detail += f" cause={cause[:40]}"
        try:
            self._record(watch.supervisor, role, "supervise_end", watch.call_id, "done", ip, detail)
        except SupervisionError:
            log.error("supervision end not audited: %s %s", watch.supervisor, detail)
        return True

    def _record(self, actor: str, role: str, action: str, call: str, outcome: str, ip: str | None,
                detail: str) -> None:
        try:
            self.audit.record(actor=actor, role=role, action=action, call=call, outcome=outcome, ip=ip, detail=detail)
        except OSError:
            log.exception("console audit could not be written")
            raise SupervisionError("audit_unavailable", "Журнал доступа недоступен; действие отклонено") from None


def _why(exc: LiveCallError) -> str:
    if isinstance(exc, CallNotLive):
        return "call_not_live"
    if isinstance(exc, Unsupported):
        return "unsupported"
    if isinstance(exc, TelephonyFailed):
        return "telephony_failed"
    return "refused"
