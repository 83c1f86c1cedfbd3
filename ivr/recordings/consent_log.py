"""The consent log: one record per call in Redis, the proof of what the caller answered.

Written once, when the engine is done with the call (``CallServices.call_ended``: for a
call handed to an operator that is the Connect, before any recording exists), and read by
whatever ingests the call's recordings afterwards (the Asterisk spool scan, the Twilio
recording hook)::

    {P}:rec:call:<call_id>   hash, expires with the call's retention (the queue's days)
        consent        JSON of meta.Consent: granted, at, method (voice|key), recognised,
                       answer_audio (id of the encrypted answer clip), language;
                       absent when the caller was never asked
        state          recording | no_consent | no_key | no_recorder: what the operator's screen said
        appeal, operator, queue, channel, ended
        done:<source>  the recording id intended for (then stored from) a source such as
                       'asterisk:<file>' or 'twilio:RE...': a retry finds it and never
                       stores the same audio twice

The answer's audio: the front end's plaintext clip (``Consent.clip``, Asterisk's
``RECORD FILE`` under ``recordings.clip_dir``) is encrypted into the store as a recording
of kind ``"consent"`` - whatever the answer, it is the proof of it - with the call's
retention, and the plaintext is removed.  A clip path outside ``clip_dir`` is never read
or removed.  No key (or a store that refuses it): the clip is left to the call's voice
clips (:mod:`ivr.recordings.clips`, the next observer), which destroy it - no plaintext
clip outlives its call.

Nothing here raises into a call: a failure is logged, and a recording that then finds no
consent record is deleted by its ingest path (fail closed).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from redis import Redis

from ivr.flow.context import CallContext, RecordingState, recording_for
from ivr.lease import Leases
from ivr.recordings.audit import Clock
from ivr.recordings.errors import RecordingError
from ivr.recordings.ids import new_recording_id
from ivr.recordings.index import Keys
from ivr.recordings.meta import Consent, _s
from ivr.recordings.store import DAY, RecordingStore

log = logging.getLogger("ivr.recordings.consent")

CLIP_FORMATS = ("wav", "WAV", "gsm", "sln")

@dataclass(frozen=True)
class CallRecord:
    call_id: str
    consent: Consent | None
    state: RecordingState
    appeal: str | None = None
    operator: str | None = None
    queue: str | None = None
    channel: str | None = None
    ended: float = 0.0
    done: Mapping[str, str] = field(default_factory=dict)

    @property
    def may_record(self) -> bool:
        """Did the caller consent to recording the operator conversation?"""
        return self.consent is not None and self.consent.granted


def connected_operator(ctx: CallContext) -> str | None:
    """The operator the engine connected the call to (the Connect's step detail)."""
    for step in reversed(ctx.path):
        if step.exit == "connected":
            return step.detail or None
    return None


class ConsentLog:
    def __init__(
        self,
        *,
        store: RecordingStore,
        redis: Redis,
        prefix: str = "ivr",
        clip_dir: str | os.PathLike[str] | None = None,
        clock: Clock,
    ) -> None:
        self.store = store
        self.redis = redis
        self.keys = Keys(prefix)
        self.clip_dir = Path(clip_dir) if clip_dir is not None else None
        self.clock = clock
        self._leases = Leases(redis)

    # -- writing -----------------------------------------------------------------------

    def call_ended(self, ctx: CallContext, at: float) -> CallRecord | None:
        """Keep the call's consent record (and its answer audio).  Never raises."""
        if ctx.consent is None and ctx.outcome not in ("connected", "callback"):
            return None  # never asked, never reached anyone: nothing to prove
        try:
            return self._write(ctx, at)
        except Exception:  # the call must go on; its recordings fail closed
            log.exception("call %s: the consent record could not be written", ctx.call_id)
            return None

    def _write(self, ctx: CallContext, at: float) -> CallRecord:
        consent: Consent | None = None
        if ctx.consent is not None:
            consent = Consent.of(ctx.consent, language=ctx.language,
                                 answer_audio=self._keep_answer_audio(ctx))
        recording = ctx.recording or recording_for(ctx.consent, can_record=self.store.keyring is not None)
        record = CallRecord(
            call_id=ctx.call_id, consent=consent, state=recording.state, appeal=ctx.appeal,
            operator=connected_operator(ctx), queue=ctx.queue, channel=ctx.channel, ended=at,
        )
        fields: dict[str, str] = {"state": record.state, "ended": repr(at)}
        for name in ("appeal", "operator", "queue", "channel"):
            value = getattr(record, name)
            if value:
                fields[name] = value
        if consent is not None:
            fields["consent"] = consent.to_json()
        key = self.keys.call(ctx.call_id)
        pipe = self.redis.pipeline(transaction=True)
        pipe.hset(key, items=[part for pair in fields.items() for part in pair])
        pipe.expire(key, int(self.store.retention.days_for(ctx.queue) * DAY))
        pipe.execute()
        log.info("call %s: consent record kept (%s, %s)", ctx.call_id,
                 "no answer" if consent is None else ("granted" if consent.granted else "refused"),
                 record.state)
        return record

    def _keep_answer_audio(self, ctx: CallContext) -> str | None:
        """Encrypt the answer clip into the store (kind 'consent'); its id, or None."""
        assert ctx.consent is not None
        if not ctx.consent.clip:
            return None
        path = self.clip_file(ctx.consent.clip)
        if path is None:
            return None
        if self.store.keyring is None:
            log.error("call %s: the consent answer's audio %s is not kept: no recording key "
                      "(the clip is destroyed with the call's other clips)", ctx.call_id, path.name)
            return None
        rid = new_recording_id()
        answer = Consent.of(ctx.consent, language=ctx.language, answer_audio=rid)
        try:
            self.store.ingest(
                path, call_id=ctx.call_id, consent=answer, appeal=ctx.appeal, queue=ctx.queue,
                kind="consent", audio_format=path.suffix.lstrip(".").lower() or "wav",
                recording_id=rid, source=f"asterisk-clip:{path.name}",
            )
        except RecordingError as exc:
            log.error("call %s: the consent answer's audio was not stored: %s", ctx.call_id, exc)
            return None
        return rid

    def clip_file(self, clip: str) -> Path | None:
        """The plaintext file of a front-end clip, only if it is a regular file in clip_dir."""
        if self.clip_dir is None:
            log.warning("a consent answer clip was kept but recordings.clip_dir is not set")
            return None
        base = Path(clip)
        candidates = [base, *(base.with_name(f"{base.name}.{ext}") for ext in CLIP_FORMATS)]
        root = os.path.realpath(self.clip_dir)
        for candidate in candidates:
            if not candidate.is_absolute():
                candidate = self.clip_dir / candidate
            try:
                if not candidate.is_file() or candidate.is_symlink():
                    continue
            except OSError:
                continue
            real = os.path.realpath(candidate)
            if os.path.commonpath([root, real]) != root:
                log.error("a consent answer clip outside recordings.clip_dir was refused: %s", candidate.name)
                return None
            return candidate
        return None

    # -- reading ---------------------------------------------------------------------------

    def operator_joined(self, call_id: str, operator: str) -> None:
        """A callback's operator on the call's record (kept only where the record is)."""
        key = self.keys.call(call_id)
        pipe = self.redis.pipeline(transaction=True)
        pipe.exists(key)
        pipe.hget(key, "operator")
        there, current = pipe.execute()
        if there and not current:
            self.redis.hset(key, "operator", operator)

    def get(self, call_id: str) -> CallRecord | None:
        raw = self.redis.hgetall(self.keys.call(call_id))
        if not raw:
            return None
        h = {_s(k): _s(v) for k, v in raw.items()}
        state = h.get("state", "no_consent")
        return CallRecord(
            call_id=call_id,
            consent=Consent.from_json(h["consent"]) if "consent" in h else None,
            state=state if state in ("recording", "no_key", "no_recorder") else "no_consent",  # type: ignore[arg-type]
            appeal=h.get("appeal"),
            operator=h.get("operator"),
            queue=h.get("queue"),
            channel=h.get("channel"),
            ended=float(h.get("ended", "0")),
            done={k.removeprefix("done:"): v for k, v in h.items() if k.startswith("done:")},
        )

    # -- ingest bookkeeping (spool scan, Twilio hook) ----------------------------------------

    def intend(self, call_id: str, source: str, recording_id: str) -> None:
        """Say which recording id ``source`` is being stored as, before storing it."""
        self.redis.hset(self.keys.call(call_id), f"done:{source}", recording_id)

    def claim(self, source: str, *, seconds: int = 600) -> str | None:
        """A lease on ingesting ``source``: a token, or None when another process holds it."""
        return self._leases.take(self.keys.claim(source), seconds)

    def release(self, source: str, token: str) -> None:
        self._leases.release(self.keys.claim(source), token)

    @contextmanager
    def claimed(self, source: str) -> Iterator[bool]:
        """The lease of :meth:`claim` for a ``with`` block: True, and released on leaving it
        however it is left; False when another process holds it (nothing to release)."""
        token = self.claim(source)
        if token is None:
            yield False
            return
        try:
            yield True
        finally:
            self.release(source, token)

