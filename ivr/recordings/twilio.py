"""Twilio recordings: fetched binary-safe, encrypted into the store, then deleted at Twilio.

Twilio records only when the flow engine's Connect says so (consent and a key, and the
front end has this hook): ``<Dial record="record-from-answer-dual"
recordingStatusCallback="/twilio/recording-status?clip=operator-op101">``.  When the
file is ready Twilio posts, and the blueprint calls
``on_recording(call_sid, recording_url, http_get, *, clip)``::

    POST /twilio/recording-status?clip=operator-op101
    CallSid=CA...&RecordingSid=RE...&RecordingStatus=completed&RecordingDuration=42
    &RecordingUrl=https://api.twilio.com/2010-04-01/Accounts/AC.../Recordings/RE...

:class:`TwilioRecordings` is that hook:

1. the URL must be ``https://api.twilio.com/2010-04-01/Accounts/<our AC>/Recordings/RE...``
   (our credentials are sent nowhere else); the SID comes from it;
2. the operator conversation (``clip`` ``operator...`` or ``callback-<callback id>``), or
   the caller's spoken name (``clip`` ``<CallSid>-<node>``: the menu's ``<Record>``, see
   below); any other clip is left alone;
3. the call's consent record (:mod:`ivr.recordings.consent_log`; a callback's is the
   original call's): none, or not granted -> POLICY VIOLATION: deleted at Twilio unfetched,
   with a deletion-log line;
4. ``GET <url>.wav`` through an injected ``requests.Session`` - streamed, bytes as they
   are, at most ``max_bytes`` - straight into :meth:`RecordingStore.ingest` (kind
   'operator', ``source='twilio:RE...'``, the call's appeal, operator, queue, consent);
5. ``DELETE /Recordings/RE....json`` through the twilio REST client, so no copy outlives
   our retention at Twilio; a 404 means it is already gone.

The spoken name (the flow engine's ``Record``, speech off: ``<Record
recordingStatusCallback="/twilio/recording-status?clip=CA...-ask_name">``) needs no
consent to record - it identifies the caller, it is not the conversation
(:mod:`ivr.recordings.clips`).  It is fetched the same binary-safe way as soon as Twilio
has it, while the caller is still in the menu, encrypted as kind ``name``
(:meth:`CallClips.keep_name`; the call's queue and retention are given at its end) and
deleted at Twilio, so the operator can play it from the store when the call is assigned.

What fails is not lost: a fetch or store that fails is kept in ``{P}:rec:twilio-pending``
and a delete that fails in ``{P}:rec:twilio-undeleted``; :meth:`TwilioRecordings.retry`,
run from the engine's background loop, tries both again every ``retry_every`` seconds.

Why not ``http_get`` (``TwilioDialer.fetch``): twilio's ``HttpClient`` returns
``Response(status, response.text)`` - requests decodes the body as text with a guessed
charset, which corrupts WAV bytes.  A redirect to Twilio's media host is followed by
requests, which drops the credentials when the host changes.

Idempotent: the recording id is noted in the consent record before the store is written
and a lease (``{P}:rec:claim:twilio:RE...``) keeps concurrent retries apart, so Twilio
retrying the callback never stores the audio twice; it only repeats the delete.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, TypeVar
from urllib.parse import urlsplit

import requests
from twilio.base.exceptions import TwilioRestException
from twilio.rest import Client

from ivr.recordings.audit import Clock, DeletionLog
from ivr.recordings.clips import CallClips
from ivr.recordings.consent_log import ConsentLog
from ivr.recordings.errors import FetchFailed, RecordingError
from ivr.recordings.ids import new_recording_id
from ivr.recordings.meta import Consent, PausedSpan, RecordingMeta
from ivr.recordings.pauses import RecordingPauses
from ivr.recordings.store import RecordingStore
from routing.engine import CALLBACK_PREFIX

if TYPE_CHECKING:
    from ivr.engine import Engine

log = logging.getLogger("ivr.recordings.twilio")

API_HOST = "api.twilio.com"
RECORDING_PATH = re.compile(
    r"\A/2010-04-01/Accounts/(?P<account>AC[0-9a-f]{32})/Recordings/(?P<sid>RE[0-9a-f]{32})(?:\.(?:wav|mp3))?\Z"
)
PIECE = 64 * 1024
RecordingHook = Callable[..., None]
T = TypeVar("T")


def call_of(call_sid: str, clip: str) -> str:
    """The call whose consent covers this recording: a callback's is the original call."""
    prefix = "callback-" + CALLBACK_PREFIX
    return clip[len(prefix):] if clip.startswith(prefix) and len(clip) > len(prefix) else call_sid


def is_conversation(clip: str) -> bool:
    return clip == "operator" or clip.startswith(("operator-", "callback-"))


def is_name_clip(call_sid: str, clip: str) -> bool:
    """The menu's ``<Record>`` of the caller's spoken name: ``<CallSid>-<node>``."""
    return clip.startswith(call_sid + "-") and len(clip) > len(call_sid) + 1 and not is_conversation(clip)


class TwilioRecordings:
    def __init__(
        self,
        *,
        store: RecordingStore,
        consent_log: ConsentLog,
        clips: CallClips,
        deletion_log: DeletionLog,
        client: Client,
        session: requests.Session,
        clock: Clock,
        max_bytes: int = 512 * 1024 * 1024,
        timeout: tuple[float, float] = (10.0, 120.0),
        retry_every: float = 60.0,
        pauses: RecordingPauses | None = None,
    ) -> None:
        self.store = store
        self.consent_log = consent_log
        self.clips = clips
        self.deletion_log = deletion_log
        self.client = client
        self.session = session
        self.clock = clock
        self.max_bytes = max_bytes
        self.timeout = timeout
        self.retry_every = retry_every
        self.pauses = pauses  # where the operator paused the conversation's recording
        self._next_retry = 0.0

    def __call__(self, call_sid: str, recording_url: str, http_get: object = None, *, clip: str,
                 span: tuple[float, float] | None = None) -> None:
        """The recording-status hook.  Raises :class:`FetchFailed` / store errors (logged).

        ``http_get`` (the dialer's text-only fetch) is not used: see the module docstring.
        """
        try:
            self._handle(call_sid, recording_url, clip, span)
        except RecordingError:
            self._pending(call_sid, recording_url, clip, span)
            raise

    def _handle(self, call_sid: str, recording_url: str, clip: str,
                span: tuple[float, float] | None = None) -> None:
        sid = self.recording_sid(recording_url)
        if is_name_clip(call_sid, clip):
            self._name(sid, call_sid)
            return
        if not is_conversation(clip):
            log.info("twilio recording %s (clip %s) is neither a conversation nor a name; left alone", sid, clip)
            return
        call_id = call_of(call_sid, clip)
        record = self.consent_log.get(call_id)
        consent = record.consent if record is not None else None
        if record is None or consent is None or not consent.granted:
            why = "no consent record for the call" if record is None else "the caller did not consent"
            self._violation(sid, call_id, why)
            return
        source = f"twilio:{sid}"
        intended = record.done.get(source)
        if intended is not None and self.store.index.exists(intended):
            log.info("twilio recording %s is already stored as %s", sid, intended)
            self.delete_at_twilio(sid)
            return

        def store() -> RecordingMeta:
            rid = intended or new_recording_id()
            if intended is None:
                self.consent_log.intend(call_id, source, rid)
            paused = () if self.pauses is None else self.pauses.spans(call_id, recording=span)
            return self._store(sid, call_id, consent, record.appeal, record.operator, record.queue, rid, paused)

        self._keep(sid, call_id, "recording", store)

    def _name(self, sid: str, call_sid: str) -> None:
        """The caller's spoken name: fetched, encrypted as kind 'name', deleted at Twilio."""
        source = f"twilio:{sid}"
        note = self.clips.note(call_sid)
        if note is not None and note.name_source == source and note.name and self.store.index.exists(note.name):
            log.info("twilio name recording %s is already stored as %s", sid, note.name)
            self.delete_at_twilio(sid)
            return
        self._keep(sid, call_sid, "name recording", lambda: self._fetched(
            sid, None, lambda pieces: self.clips.keep_name(pieces, call_id=call_sid, source=source, audio_format="wav")))

    def _keep(self, sid: str, call: str, what: str, store: Callable[[], RecordingMeta | None]) -> None:
        """``store()`` under the recording's lease; once stored, no longer pending and deleted at
        Twilio.  A store error is logged (``what``: "recording", "name recording") and raised."""
        with self.consent_log.claimed(f"twilio:{sid}") as mine:
            if not mine:
                log.info("twilio recording %s is being stored by another request", sid)
                return
            try:
                meta = store()
            except RecordingError as exc:
                log.error("twilio %s %s of call %s not stored (left at Twilio, retried later): %s: %s",
                          what, sid, call, type(exc).__name__, exc)
                raise
        if meta is not None:
            log.info("twilio %s %s of call %s stored as %s (%d bytes)", what, sid, call, meta.id, meta.size)
        self.store.index.redis.hdel(self.store.index.keys.twilio_pending, sid)
        self.delete_at_twilio(sid)

    # -- retries (the engine's background loop) -----------------------------------------------

    def _pending(self, call_sid: str, url: str, clip: str, span: tuple[float, float] | None = None) -> None:
        try:
            sid = self.recording_sid(url)
        except FetchFailed:
            return  # not ours: nothing to retry
        entry = json.dumps({"call_sid": call_sid, "url": url, "clip": clip, "since": self.clock(),
                            "span": list(span) if span is not None else None})
        self.store.index.redis.hsetnx(self.store.index.keys.twilio_pending, sid, entry)

    def retry(self) -> None:
        """Fetch what failed earlier and delete at Twilio what is stored here; at most once
        every ``retry_every`` seconds (the engine's tick calls it every second)."""
        now = self.clock()
        if now < self._next_retry:
            return
        self._next_retry = now + self.retry_every
        redis, keys = self.store.index.redis, self.store.index.keys
        for raw in redis.zrange(keys.twilio_undeleted, 0, 49):
            self.delete_at_twilio(raw.decode() if isinstance(raw, bytes) else str(raw))
        for sid, raw in list(redis.hgetall(keys.twilio_pending).items())[:50]:
            entry = json.loads(raw)
            try:
                span = entry.get("span")
                self._handle(entry["call_sid"], entry["url"], entry["clip"],
                             (float(span[0]), float(span[1])) if span else None)
            except RecordingError:
                continue  # logged; tried again at the next retry
            redis.hdel(keys.twilio_pending, sid)

    # -- the URL --------------------------------------------------------------------------

    def recording_sid(self, url: str) -> str:
        """``RE...`` from a recording URL of our account at api.twilio.com; else FetchFailed."""
        parts = urlsplit(url)
        match = RECORDING_PATH.match(parts.path)
        if (parts.scheme != "https" or parts.hostname != API_HOST or parts.port not in (None, 443)
                or parts.username or parts.query or parts.fragment or match is None):
            log.error("twilio: a recording URL that is not Twilio's was refused (nothing fetched)")
            raise FetchFailed("not a Twilio recording URL (https://api.twilio.com/.../Recordings/RE...)")
        if match["account"] != self.client.account_sid:
            log.error("twilio: a recording of another Twilio account was refused (nothing fetched)")
            raise FetchFailed("the recording belongs to another Twilio account")
        return match["sid"]

    # -- fetch into the store ----------------------------------------------------------------

    def _store(self, sid: str, call_id: str, consent: Consent, appeal: str | None,
               operator: str | None, queue: str | None, rid: str,
               paused: tuple[PausedSpan, ...] = ()) -> RecordingMeta:
        return self._fetched(sid, rid, lambda pieces: self.store.ingest(
            pieces, call_id=call_id, consent=consent, appeal=appeal,
            operator=operator, queue=queue, kind="operator", audio_format="wav",
            recording_id=rid, source=f"twilio:{sid}", paused=paused,
        ))

    def _fetched(self, sid: str, rid: str | None, consume: Callable[[Iterator[bytes]], T]) -> T:
        """GET the recording's audio, streamed into ``consume`` (the store)."""
        media = f"https://{API_HOST}/2010-04-01/Accounts/{self.client.account_sid}/Recordings/{sid}.wav"
        auth = (self.client.username, self.client.password)
        try:
            response = self.session.get(media, auth=auth, timeout=self.timeout, stream=True)
        except requests.RequestException as exc:
            raise FetchFailed(f"GET recording failed: {type(exc).__name__}", recording_id=rid) from exc
        with response:
            if response.status_code != 200:
                raise FetchFailed(f"GET recording answered HTTP {response.status_code}", recording_id=rid)
            kind = response.headers.get("Content-Type", "")
            if not kind.startswith("audio/"):
                raise FetchFailed(f"GET recording answered {kind or 'no content type'}, not audio", recording_id=rid)
            return consume(self._pieces(response, rid))

    def _pieces(self, response: requests.Response, rid: str | None) -> Iterator[bytes]:
        total = 0
        try:
            for piece in response.iter_content(PIECE):
                total += len(piece)
                if total > self.max_bytes:
                    raise FetchFailed(f"the recording is larger than {self.max_bytes} bytes", recording_id=rid)
                yield piece
        except requests.RequestException as exc:
            raise FetchFailed(f"the recording download broke off: {type(exc).__name__}", recording_id=rid) from exc
        if total == 0:
            raise FetchFailed("the recording is empty", recording_id=rid)

    # -- deleting at Twilio --------------------------------------------------------------------

    def delete_at_twilio(self, sid: str) -> bool:
        """DELETE the recording at Twilio; False (and kept for a retry) when that failed."""
        key = self.store.index.keys.twilio_undeleted
        try:
            self.client.recordings(sid).delete()
        except TwilioRestException as exc:
            if exc.status != 404:
                return self._undeleted(sid, f"HTTP {exc.status}")
        except Exception as exc:  # noqa: BLE001 - network trouble: keep it for a retry
            return self._undeleted(sid, type(exc).__name__)
        self.store.index.redis.zrem(key, sid)
        log.info("twilio recording %s deleted at Twilio", sid)
        return True

    def _undeleted(self, sid: str, why: str) -> bool:
        self.store.index.redis.zadd(self.store.index.keys.twilio_undeleted, {sid: self.clock()}, nx=True)
        log.error("twilio recording %s is NOT deleted at Twilio (%s): retried from the background loop",
                  sid, why)
        return False

    def _violation(self, sid: str, call_id: str, why: str) -> None:
        deleted = self.delete_at_twilio(sid)
        self.deletion_log.deleted(
            recording=f"twilio:{sid}", sha256=None, intent=f"policy:twilio:{sid}", call=call_id,
            why=f"recorded without consent ({why}): policy violation; deleted at Twilio unfetched",
            at_twilio="deleted" if deleted else "delete pending",
        )
        log.error("POLICY VIOLATION: twilio recording %s of call %s was made but %s; deleted at Twilio "
                  "unfetched%s", sid, call_id, why, "" if deleted else " (delete pending)")


def twilio_recording_hook(
    engine: Engine, *, client: Client | None = None, session: requests.Session | None = None
) -> RecordingHook | None:
    """The ``on_recording`` hook for ``make_twilio_blueprint``; None when Twilio must not record.

    None (no recording key, or no REST credentials to fetch and delete with) makes the
    Twilio front end tell the flow engine it cannot record, so no ``<Dial record>`` is
    ever sent.  Pass the dialer's ``client`` to share it; tests inject both.  The hook's
    retries join the engine's background loop (``engine.recordings.background``).
    """
    recordings = engine.recordings
    if not recordings.enabled:
        log.warning("twilio: recording is off (no recording key): Twilio will not record calls")
        return None
    if client is None:
        from ivr.twilio.dialer import make_client

        secrets, account = engine.secrets, engine.config.twilio.account_sid
        try:
            if not account:
                raise ValueError("twilio.account_sid is not set")
            client = make_client(account_sid=account, auth_token=secrets.twilio_auth_token,
                                 api_key=secrets.twilio_api_key, api_secret=secrets.twilio_api_secret)
        except ValueError as exc:
            log.warning("twilio: recording is off (%s): Twilio will not record calls", exc)
            return None
    hook = TwilioRecordings(
        store=recordings.store, consent_log=recordings.consent_log, clips=recordings.clips,
        deletion_log=recordings.purger.deletion_log, client=client,
        session=session if session is not None else requests.Session(), clock=engine.clock,
        pauses=recordings.pauses,
    )
    recordings.background.append(hook.retry)
    return hook


__all__ = ["TwilioRecordings", "call_of", "is_conversation", "is_name_clip", "twilio_recording_hook"]
