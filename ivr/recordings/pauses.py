"""Recording pause: the operator mutes the recording while the citizen dictates what must
not be kept (a passport, a card number), then lets it go on.

Strategy: the telephony mutes the recording itself (Asterisk: AMI ``MixMonitorMute`` on
the caller's channel, both directions; Twilio: the recording's ``paused`` status), so the
paused part of the file is silence, never audio cut out later.  This module keeps, per
call, what the recording's metadata will say: where it was paused, by whom, when.  The
spans are kept in Redis from the first pause until the call's recording is ingested
(:class:`ivr.recordings.spool.SpoolIngest` asks :meth:`RecordingPauses.spans`), since the
console's request and the ingest may run in different engine processes::

    {P}:rec:pause:<call>   hash   state     pausing | paused | resuming (absent: recording)
                                  claimed   when the pausing / resuming began (epoch s)
                                  since, by the open pause: when it began, who
                                  started   the recording's start (the operator's answer)
                                  spans     JSON [[paused_at, resumed_at, by, resumed_by], ...]

Every move is one Lua script, from the one table below; a move that does not fit the
state is refused with the state found (a double click finds "paused" or "pausing")::

    move            from        to          refused otherwise as
    begin_pause     recording   pausing     AlreadyPaused (paused) / PauseBusy
    paused          pausing     paused      (the telephony muted it)
    pause_failed    pausing     recording   (the telephony refused: as it was)
    begin_resume    paused      resuming    NotPaused (recording) / PauseBusy
    resumed         resuming    recording   (a span is closed)
    resume_failed   resuming    paused      (the telephony refused: still paused)

A ``pausing`` or ``resuming`` claim older than ``claim_seconds`` (an engine process died
between the claim and the telephony's answer) counts as the state it came from.

The span's edges are chosen so that all of it is silence: it begins when the telephony
has said the recording is muted, and ends when the engine asks for it to go on.
"""

from __future__ import annotations

import dataclasses
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ivr.aftermenu.control import Controls
from ivr.recordings.audit import Clock
from ivr.recordings.errors import AlreadyPaused, NotPaused, PauseBusy, PauseRefused
from ivr.recordings.index import Keys
from ivr.recordings.meta import PausedSpan, _s

log = logging.getLogger("ivr.recordings.pauses")

KEEP_SECONDS = 7 * 86400  # past the spool's abandon_after and any ingest retry
CLAIM_SECONDS = 30.0  # longer than an AMI action's timeout (10 s) or a Twilio request

_MOVE = """
local key = KEYS[1]
local move, now, who = ARGV[1], tonumber(ARGV[2]), ARGV[3]
local state = redis.call('HGET', key, 'state') or 'recording'
if state == 'pausing' or state == 'resuming' then
  if now - tonumber(redis.call('HGET', key, 'claimed') or '0') > tonumber(ARGV[5]) then
    if state == 'pausing' then state = 'recording' else state = 'paused' end
  end
end
local from = {begin_pause='recording', paused='pausing', pause_failed='pausing',
              begin_resume='paused', resumed='resuming', resume_failed='resuming'}
if from[move] == nil then return 'bad move' end
if state ~= from[move] then return state end
if move == 'begin_pause' then
  redis.call('HSET', key, 'state', 'pausing', 'claimed', ARGV[2])
  if redis.call('HEXISTS', key, 'started') == 0 then redis.call('HSET', key, 'started', ARGV[4]) end
elseif move == 'paused' then
  redis.call('HSET', key, 'state', 'paused', 'since', ARGV[2], 'by', who)
elseif move == 'pause_failed' then
  redis.call('HSET', key, 'state', 'recording')
elseif move == 'begin_resume' then
  redis.call('HSET', key, 'state', 'resuming', 'claimed', ARGV[2])
elseif move == 'resumed' then
  local raw = redis.call('HGET', key, 'spans')
  local spans = {}
  if raw then spans = cjson.decode(raw) end
  spans[#spans + 1] = {redis.call('HGET', key, 'since'), ARGV[2], redis.call('HGET', key, 'by'), who}
  redis.call('HSET', key, 'state', 'recording', 'spans', cjson.encode(spans))
  redis.call('HDEL', key, 'since', 'by')
elseif move == 'resume_failed' then
  redis.call('HSET', key, 'state', 'paused')
end
redis.call('EXPIRE', key, ARGV[6])
return 'ok'
"""

_REFUSALS: dict[str, type[PauseRefused]] = {"paused": AlreadyPaused, "recording": NotPaused,
                                            "pausing": PauseBusy, "resuming": PauseBusy}


@dataclass(frozen=True)
class PauseState:
    """What the operator's page shows: ``paused`` (also while a resume is under way), since
    when and by whom."""

    call_id: str
    state: str  # recording | pausing | paused | resuming
    since: float | None = None
    by: str | None = None

    @property
    def paused(self) -> bool:
        return self.state in ("paused", "resuming")


class RecordingPauses:
    """The pause record of each call (``{P}:rec:pause:<call>``): its one owner."""

    def __init__(self, *, redis: Any, prefix: str = "ivr", clock: Clock,
                 claim_seconds: float = CLAIM_SECONDS, keep_seconds: int = KEEP_SECONDS) -> None:
        self.redis = redis
        self.keys = Keys(prefix)
        self.clock = clock
        self.claim_seconds = claim_seconds
        self.keep_seconds = keep_seconds
        self._move = redis.register_script(_MOVE)

    def move(self, call_id: str, move: str, *, at: float | None = None, by: str = "",
             started: float | None = None) -> None:
        """One move of the table; :class:`PauseRefused` (with the state found) if it does not fit."""
        when = self.clock() if at is None else at
        found = _s(self._move(keys=[self.keys.pause(call_id)],
                              args=[move, repr(when), by, repr(when if started is None else started),
                                    repr(self.claim_seconds), str(self.keep_seconds)]))
        if found == "ok":
            return
        if found == "bad move":
            raise ValueError(f"no such pause move: {move}")
        raise _REFUSALS[found](f"{move}: the recording is {found}", call=call_id[:80], state=found)

    def state(self, call_id: str) -> PauseState:
        raw = self.redis.hmget(self.keys.pause(call_id), "state", "claimed", "since", "by")
        state, claimed, since, by = (None if v is None else _s(v) for v in raw)
        state = state or "recording"
        if state in ("pausing", "resuming") and self.clock() - float(claimed or 0) > self.claim_seconds:
            state = "recording" if state == "pausing" else "paused"
        return PauseState(call_id, state, float(since) if since else None, by)

    def spans(self, call_id: str, *, recording: tuple[float, float] | None = None) -> tuple[PausedSpan, ...]:
        """The call's paused spans, as offsets from the recording's start; a pause still
        open (the call ended paused) runs to the end (``end`` None).

        ``recording``: (start, seconds) of one recording of the call, where the telephony
        says it (Twilio's ``RecordingStartTime`` and ``RecordingDuration``: a call moved
        into a conference has two); the spans that fall in it, from its start.  Without
        it the call's one recording starts at the operator's answer (MixMonitor's ``b``)."""
        raw = self.redis.hmget(self.keys.pause(call_id), "started", "spans", "state", "since", "by")
        started, spans, state, since, by = (None if v is None else _s(v) for v in raw)
        if started is None:
            return ()
        if recording is not None:
            return tuple(_within(span, *recording)
                         for span in self._spans(float(started), spans, state, since, by)
                         if _overlaps(span, *recording))
        return self._spans(float(started), spans, state, since, by)

    @staticmethod
    def _spans(t0: float, spans: str | None, state: str | None, since: str | None,
               by: str | None) -> tuple[PausedSpan, ...]:
        out = [PausedSpan(start=round(float(a) - t0, 3), end=round(float(b) - t0, 3), paused_at=float(a),
                          resumed_at=float(b), paused_by=who, resumed_by=resumer or None)
               for a, b, who, resumer in json.loads(spans or "[]")]
        if state in ("paused", "resuming") and since is not None:
            out.append(PausedSpan(start=round(float(since) - t0, 3), end=None, paused_at=float(since),
                                  resumed_at=None, paused_by=by or ""))
        return tuple(out)


class RecordingPause:
    """Pause and resume the recording of a live call: claim the move here, act through the
    call's telephony (``controls``), then confirm it or put it back.

    ``before``: called once the move is claimed and before the telephony acts (the console
    writes its audit line there: no audit, no pause).  Raises what :meth:`Controls.of` and
    the front end raise (:class:`~ivr.aftermenu.control.LiveCallError`: the call ended, the
    telephony failed; the state is then as it was) and :class:`PauseRefused`.
    """

    def __init__(self, *, pauses: RecordingPauses, controls: Callable[[], Controls], clock: Clock) -> None:
        self.pauses = pauses
        self.controls = controls  # read at each request: front ends register after the console is built
        self.clock = clock

    def pause(self, call_id: str, *, by: str, before: Callable[[], None] = lambda: None) -> PauseState:
        legs, front = self.controls().of(call_id)
        self.pauses.move(call_id, "begin_pause", started=legs.since)
        try:
            before()
            front.pause_recording(legs)
        except BaseException:
            self.pauses.move(call_id, "pause_failed")
            raise
        self.pauses.move(call_id, "paused", by=by)  # now: the telephony has muted it
        log.info("call %s: recording paused by %s", call_id, by)
        return self.pauses.state(call_id)

    def resume(self, call_id: str, *, by: str, before: Callable[[], None] = lambda: None) -> PauseState:
        legs, front = self.controls().of(call_id)
        self.pauses.move(call_id, "begin_resume")
        try:
            before()
            asked = self.clock()  # the span ends here: the audio is silent up to now at least
            front.resume_recording(legs)
        except BaseException:
            self.pauses.move(call_id, "resume_failed")
            raise
        self.pauses.move(call_id, "resumed", at=asked, by=by)
        log.info("call %s: recording resumed by %s", call_id, by)
        return self.pauses.state(call_id)


def _overlaps(span: PausedSpan, start: float, seconds: float) -> bool:
    end = span.resumed_at if span.resumed_at is not None else float("inf")
    return span.paused_at < start + seconds and end > start


def _within(span: PausedSpan, start: float, seconds: float) -> PausedSpan:
    """``span`` as offsets in the recording that starts at ``start`` and lasts ``seconds``."""
    begin = max(span.paused_at, start) - start
    end = None if span.resumed_at is None or span.resumed_at >= start + seconds else span.resumed_at - start
    return dataclasses.replace(span, start=round(begin, 3), end=None if end is None else round(end, 3))
