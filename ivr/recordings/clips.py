"""The caller's own voice clips: no plaintext clip outlives its call.

The menu records the caller into ``recordings.clip_dir`` (Asterisk ``RECORD FILE``, the
AGI front end's ``record_dir``), each clip named ``<call id>-<node>`` by the flow engine
(``.wav``): the spoken name, and every utterance given to the recogniser - a menu
keyword, spoken digits, the consent answer.  When the engine is done with the call
(:meth:`CallClips.call_ended`, an engine ``call_observer`` run right after the consent
log) every clip of the call is dealt with:

======================================  ==========================  ====================
clip                                    with a recording key        without one
======================================  ==========================  ====================
the spoken name (``ctx.name.clip``)     encrypted, kind ``name``    destroyed
the consent answer (``ctx.consent``)    kind ``consent``, by the    destroyed
                                        consent log (consent_log)
any other ``<call id>-*`` file          destroyed                   destroyed
======================================  ==========================  ====================

*Destroyed*: its sha256 and size go to the deletion log, then it is overwritten with zeros,
fsynced and unlinked (:func:`ivr.recordings.store.secure_remove`).  Only regular files
directly in ``clip_dir`` are touched - a clip is looked up by its base name there, never
by the path a front end gave - and a symlink is never followed (reported, left alone).

Decisions:

* **The name is kept without the consent to record.**  The spoken ФИО is part of
  identifying the caller for the operator (like the ИНН the menu collects), not a
  recording of the conversation, so it is stored whatever the caller answered to
  recording - encrypted, with the retention of the call's queue, and audible only to
  the operator the call is assigned to (:meth:`RecordingStore.open_name_clip`) and to
  supervisors and auditors with a reason.
* **Other utterances are not kept.**  What they said is in the call context already (the
  key word, the digits); nobody may listen to them; keeping a caller's voice beyond the
  name and the consent answer would be recording without consent.
* **No key, no clip**: without a recording key the name cannot be kept encrypted, so it
  is destroyed at the call's end like the rest; the operator's screen says "clip not
  kept: no recording key".  Plaintext is never kept instead.

The call's note in Redis (``{P}:rec:clips:<call>``, see :mod:`ivr.recordings.index`):
``name`` and ``name_source`` point to the stored name (the console finds it there; set
*before* the store is written, so a retry reuses the id and never stores it twice), and
at the call's end ``queue``, ``appeal``, ``operator``, ``ended`` and ``name_file``.  It
lives as long as the name recording would (the queue's retention), or a day.

Twilio keeps the name it ``<Record>``-ed: the recording hook
(:mod:`ivr.recordings.twilio`) fetches it as soon as Twilio has it, while the caller is
still in the menu, and stores it here with :meth:`CallClips.keep_name` (default
retention, the queue not chosen yet); at the call's end the name gets the call's
queue, appeal, operator and retention (:meth:`RecordingIndex.retain`).

**The janitor** (:meth:`CallClips.sweep`, from the recordings tick, every
``sweep_every`` seconds) covers what a call's end did not: a crash, a call that never
reached ``call_ended``, a store that refused the name.  Every regular file in
``clip_dir`` older than ``recordings.clip_max_age`` (by mtime; a clip being recorded is
younger) is encrypted if it is the name clip of a call whose end the engine saw (its
note names the file) and a key is present, and otherwise destroyed, each with a
deletion-log line.  Several engine processes may sweep one directory: a lease per file
(``{P}:rec:claim:clip:<file>``) keeps them apart.
"""

from __future__ import annotations

import hashlib
import logging
import os
import stat
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ivr.flow.context import CallContext
from ivr.recordings.audit import Clock, DeletionLog
from ivr.recordings.consent_log import ConsentLog, connected_operator
from ivr.recordings.errors import RecordingError
from ivr.recordings.ids import new_recording_id
from ivr.recordings.meta import Consent, RecordingMeta, _s
from ivr.recordings.said import SaidOnce
from ivr.recordings.store import DAY, READ_PIECE, Audio, RecordingStore, secure_remove

log = logging.getLogger("ivr.recordings.clips")

CLIP_FORMATS = ("wav", "WAV", "gsm", "sln")
NOTE_TTL = DAY  # the call's note without a stored name: for the janitor and late Twilio hooks


def clip_file_name(call_id: str) -> str:
    """The file-name prefix of a call's clips, as the AGI front end writes it
    (``ivr.asterisk.media.MediaPlayer._clip_path`` keeps letters, digits and ``-_.``)."""
    return "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in call_id) + "-"


def no_answer(at: float, language: str | None) -> Consent:
    """The consent that travels with a name clip of a call never asked about recording."""
    return Consent(granted=False, at=at, method="none", recognised="", language=language)


@dataclass(frozen=True)
class CallNote:
    """What ``{P}:rec:clips:<call>`` says about a call."""

    name: str | None = None  # id of the stored (or being stored) spoken-name recording
    name_source: str | None = None
    name_file: str | None = None  # the name clip's file name in clip_dir, once the call ended
    queue: str | None = None
    appeal: str | None = None
    operator: str | None = None
    ended: float | None = None

    @classmethod
    def from_hash(cls, raw: Mapping[Any, Any]) -> CallNote:
        h = {_s(k): _s(v) for k, v in raw.items()}
        return cls(name=h.get("name"), name_source=h.get("name_source"), name_file=h.get("name_file"),
                   queue=h.get("queue") or None, appeal=h.get("appeal") or None,
                   operator=h.get("operator") or None,
                   ended=float(h["ended"]) if "ended" in h else None)


@dataclass
class ClipReport:
    stored: list[str] = field(default_factory=list)  # recording ids
    destroyed: list[str] = field(default_factory=list)  # file names
    left: list[str] = field(default_factory=list)  # file names (store refused, claimed elsewhere)


class CallClips:
    def __init__(
        self,
        *,
        store: RecordingStore,
        consent_log: ConsentLog,
        deletion_log: DeletionLog,
        clip_dir: str | os.PathLike[str] | None,
        clock: Clock,
        max_age: float = 2 * 3600,
        sweep_every: float = 60.0,
    ) -> None:
        self.store = store
        self.consent_log = consent_log
        self.deletion_log = deletion_log
        self.dir = Path(clip_dir) if clip_dir is not None else None
        self.clock = clock
        self.max_age = max_age
        self.sweep_every = sweep_every
        self.redis = store.index.redis
        self.keys = store.index.keys
        self._next_sweep = 0.0
        self._said = SaidOnce(log)

    # -- the call's note ----------------------------------------------------------------------

    def note(self, call_id: str) -> CallNote | None:
        raw = self.redis.hgetall(self.keys.clips(call_id))
        return CallNote.from_hash(raw) if raw else None

    def name_recording(self, call_id: str) -> str | None:
        """The id of the call's stored spoken-name recording, or None (not stored yet, or none)."""
        rid = self.redis.hget(self.keys.clips(call_id), "name")
        if rid is None:
            return None
        return _s(rid) if self.store.index.exists(_s(rid)) else None

    def operator_joined(self, call_id: str, operator: str) -> None:
        """A callback's operator on the call's stored spoken name (none stored: nothing)."""
        rid = self.name_recording(call_id)
        meta = self.store.index.get(rid) if rid is not None else None
        if rid is not None and meta is not None and not meta.operator:
            self.store.index.retain(rid, expires=meta.expires, retention_days=meta.retention_days, operator=operator)

    def name_there(self, call_id: str, clip: str) -> bool:
        """The caller's spoken name can be played: the front end's file is in clip_dir, or the
        call's end has stored it (the two places the operator's play button serves it from)."""
        return self.clip_file(clip) is not None or self.name_recording(call_id) is not None

    def _write_note(self, call_id: str, fields: Mapping[str, str], *, ttl: int) -> None:
        key = self.keys.clips(call_id)
        pipe = self.redis.pipeline(transaction=True)
        if fields:
            pipe.hset(key, items=[part for pair in fields.items() for part in pair])
        pipe.ttl(key)
        left = pipe.execute()[-1]
        if left is not None and -1 <= int(left) < ttl:  # never shorten: a stored name keeps its note
            self.redis.expire(key, ttl)

    # -- the call's end ---------------------------------------------------------------------

    def call_ended(self, ctx: CallContext, at: float) -> ClipReport | None:
        """Keep the call's name (encrypted), destroy every other clip of it.  Never raises."""
        try:
            return self._call_ended(ctx, at)
        except Exception:  # the call must go on; the janitor finishes what is left
            log.exception("call %s: its voice clips could not be dealt with (the janitor will)", ctx.call_id)
            return None

    def _call_ended(self, ctx: CallContext, at: float) -> ClipReport:
        report = ClipReport()
        operator = connected_operator(ctx)
        name_path = self.clip_file(ctx.name.clip) if ctx.name is not None and ctx.name.clip else None
        fields = {"ended": repr(at), "queue": ctx.queue or "", "appeal": ctx.appeal or "",
                  "operator": operator or ""}
        if name_path is not None:
            fields["name_file"] = name_path.name
        days = self.store.retention.days_for(ctx.queue)
        self._write_note(ctx.call_id, fields, ttl=NOTE_TTL)
        consent = self._consent_of(ctx, at)
        self._retain_name(ctx, consent, operator, days)
        if name_path is not None:
            if self.store.keyring is None:
                self._destroy(name_path, ctx.call_id, "the spoken name of an ended call: no recording key "
                              "to keep it encrypted", report)
            else:
                outcome = self._keep_file(name_path, call_id=ctx.call_id, consent=consent, appeal=ctx.appeal,
                                          operator=operator, queue=ctx.queue, report=report)
                if outcome == "failed":
                    log.error("call %s: the spoken name is left in plaintext for the janitor to store "
                              "(or destroy) within %.0f s", ctx.call_id, self.max_age)
        for path in self._files_of(ctx.call_id):
            if name_path is not None and path.name == name_path.name:
                continue
            if self.store.keyring is None:
                why = "a voice clip of an ended call: no recording key (nothing is kept in plaintext)"
            else:
                why = "a voice clip of an ended call: only the spoken name and the consent answer are kept"
            self._destroy(path, ctx.call_id, why, report)
        return report

    def _consent_of(self, ctx: CallContext, at: float) -> Consent:
        """The consent record that travels with the name: the consent log's if any."""
        record = self.consent_log.get(ctx.call_id)
        if record is not None and record.consent is not None:
            return record.consent
        if ctx.consent is not None:
            return Consent.of(ctx.consent, language=ctx.language)
        return no_answer(at, ctx.language)

    def _retain_name(self, ctx: CallContext, consent: Consent, operator: str | None, days: int) -> None:
        """A name stored before the call ended (Twilio) gets the call's queue and retention."""
        rid = self.name_recording(ctx.call_id)
        if rid is None:
            return
        meta = self.store.index.get(rid)
        if meta is None:
            return
        fields = {"consent": consent.to_json()}
        for name, value in (("queue", ctx.queue), ("appeal", ctx.appeal), ("operator", operator)):
            if value:
                fields[name] = value
        expires = meta.created + days * DAY
        if self.store.index.retain(rid, expires=expires, retention_days=days, **fields):
            self._write_note(ctx.call_id, {}, ttl=max(NOTE_TTL, int(expires - self.clock())))
            log.info("call %s: its name recording %s is kept %d days (queue %s)", ctx.call_id, rid, days,
                     ctx.queue or "-")

    # -- keeping a name -----------------------------------------------------------------------

    def keep_name(
        self, audio: Audio, *, call_id: str, source: str, audio_format: str = "wav",
        language: str | None = None,
    ) -> RecordingMeta | None:
        """Store a spoken name from elsewhere (a Twilio ``<Record>``); None when ``source`` is
        stored already.  The call's queue and retention come from its note if it has ended,
        else the default (given at its end).  Raises the store's errors."""
        note = self.note(call_id)
        ended = note is not None and note.ended is not None
        record = self.consent_log.get(call_id)
        if record is not None and record.consent is not None:
            consent = record.consent
        else:
            consent = no_answer(self.clock(), language)
        return self._keep(
            audio, call_id=call_id, source=source, audio_format=audio_format, consent=consent,
            appeal=note.appeal if ended and note else None, operator=note.operator if ended and note else None,
            queue=note.queue if ended and note else None,
        )

    def _keep(
        self, audio: Audio, *, call_id: str, source: str, audio_format: str, consent: Consent,
        appeal: str | None, operator: str | None, queue: str | None,
    ) -> RecordingMeta | None:
        note = self.note(call_id)
        rid: str | None = None
        if note is not None and note.name is not None and note.name_source == source:
            if self.store.index.exists(note.name):
                return None  # stored already (a retry, or another process)
            rid = note.name  # intended before a crash or a failure: the same id again
        rid = rid or new_recording_id()
        days = self.store.retention.days_for(queue)
        self._write_note(call_id, {"name": rid, "name_source": source}, ttl=max(NOTE_TTL, int(days * DAY)))
        meta = self.store.ingest(
            audio, call_id=call_id, consent=consent, appeal=appeal, operator=operator, queue=queue,
            kind="name", audio_format=audio_format, recording_id=rid, source=source,
        )
        log.info("call %s: the spoken name is stored as recording %s (%d bytes)", call_id, meta.id, meta.size)
        return meta

    def _keep_file(
        self, path: Path, *, call_id: str, consent: Consent, appeal: str | None, operator: str | None,
        queue: str | None, report: ClipReport,
    ) -> str:
        """Encrypt a name clip file; 'stored', 'stored before' (plaintext removed), 'claimed'
        (another process is at it) or 'failed' (left as it was)."""
        source = f"asterisk-clip:{path.name}"
        with self.consent_log.claimed(f"clip:{path.name}") as mine:
            if not mine:
                report.left.append(path.name)
                return "claimed"
            try:
                meta = self._keep(path, call_id=call_id, source=source, audio_format=_format(path),
                                  consent=consent, appeal=appeal, operator=operator, queue=queue)
            except RecordingError as exc:
                log.error("call %s: the spoken name was not stored: %s: %s", call_id, type(exc).__name__, exc)
                report.left.append(path.name)
                return "failed"
        if meta is None:  # stored before a crash: only its plaintext was left
            secure_remove(path)
            return "stored before"
        report.stored.append(meta.id)
        return "stored"

    # -- the janitor -----------------------------------------------------------------------------

    def sweep(self, *, now: float | None = None, force: bool = False) -> ClipReport:
        """Every clip older than ``max_age``: a known call's name encrypted, anything else
        destroyed.  At most once every ``sweep_every`` seconds unless ``force``."""
        report = ClipReport()
        now = self.clock() if now is None else now
        if self.dir is None or (not force and now < self._next_sweep):
            return report
        self._next_sweep = now + self.sweep_every
        entries = self._said.listing(self.dir, "clip directory")
        if entries is None:
            return report
        present = set()
        for entry in entries:
            present.add(entry.name)
            try:
                st = entry.stat(follow_symlinks=False)
            except FileNotFoundError:
                continue
            if not stat.S_ISREG(st.st_mode):
                if now - st.st_mtime >= self.max_age:
                    self._said.say(entry.name, "error", f"clips: {entry.name} in {self.dir} is not a regular file; "
                              "left alone")
                continue
            if now - st.st_mtime < self.max_age:
                continue
            try:
                self._old(Path(entry.path), report)
            except Exception as exc:  # noqa: BLE001 - one bad file must not stop the others
                self._said.say(entry.name, "error", f"clips: {entry.name} could not be dealt with: "
                          f"{type(exc).__name__}: {exc}")
                report.left.append(entry.name)
        self._said.gone(present)
        if report.stored or report.destroyed:
            log.info("clips janitor: %d names stored, %d clips destroyed", len(report.stored),
                     len(report.destroyed))
        return report

    def _old(self, path: Path, report: ClipReport) -> None:
        """One clip older than max_age: encrypted if it is an ended call's name, else destroyed."""
        call_id, note = self._call_of(path.name)
        keep = note is not None and note.ended is not None and note.name_file == path.name
        if not (keep and self.store.keyring is not None):
            with self.consent_log.claimed(f"clip:{path.name}") as mine:
                if mine:
                    self._old_unkept(path, call_id, note, report)
                else:
                    report.left.append(path.name)  # another engine process is at it
            return
        assert call_id is not None and note is not None and note.ended is not None
        record = self.consent_log.get(call_id)
        consent = record.consent if record is not None and record.consent is not None else no_answer(
            note.ended, None)
        outcome = self._keep_file(path, call_id=call_id, consent=consent, appeal=note.appeal,
                                  operator=note.operator, queue=note.queue, report=report)
        if outcome == "failed":
            report.left.remove(path.name)
            self._destroy(path, call_id, f"the spoken name older than {self.max_age:.0f} s: the store "
                          "refused it; not kept in plaintext", report)

    def _old_unkept(self, path: Path, call_id: str | None, note: CallNote | None, report: ClipReport) -> None:
        age = f"older than {self.max_age:.0f} s"
        if note is None or note.ended is None:
            self._destroy(path, call_id, f"a voice clip {age} whose call's end the engine never saw "
                          "(engine stopped? call lost?)", report)
            return
        if note.name_file != path.name:
            self._destroy(path, call_id, f"a voice clip {age} of an ended call: not kept", report)
            return
        self._destroy(path, call_id, f"the spoken name {age}: no recording key to keep it encrypted", report)

    def _call_of(self, name: str) -> tuple[str | None, CallNote | None]:
        """The call a clip belongs to, if the engine has a note of it: ``<call id>-<node>.<ext>``
        (a call id may hold '-' itself, so every split is tried, longest first)."""
        cuts = [i for i, ch in enumerate(name) if ch == "-" and i > 0]
        for cut in reversed(cuts):
            note = self.note(name[:cut])
            if note is not None:
                return name[:cut], note
        return None, None

    # -- helpers ----------------------------------------------------------------------------------

    def clip_file(self, clip: str) -> Path | None:
        """A front end's clip reference as a regular file directly in clip_dir (by base name)."""
        if self.dir is None:
            return None
        base = os.path.basename(clip)
        if not base or base in (".", ".."):
            return None
        for candidate in (base, *(f"{base}.{ext}" for ext in CLIP_FORMATS)):
            path = self.dir / candidate
            if _regular(path):
                return path
        return None

    def _files_of(self, call_id: str) -> list[Path]:
        """Every regular file in clip_dir named ``<call id>-...``."""
        if self.dir is None:
            return []
        if not call_id:
            return []
        prefix = clip_file_name(call_id)
        try:
            names = sorted(name for name in os.listdir(self.dir) if name.startswith(prefix))
        except OSError:
            return []
        out = []
        for name in names:
            path = self.dir / name
            if _regular(path):
                out.append(path)
            else:
                self._said.say(name, "error", f"clips: {name} in {self.dir} is not a regular file; left alone")
        return out

    def _destroy(self, path: Path, call_id: str | None, why: str, report: ClipReport) -> None:
        """Deletion-log line (sha256, size), then overwrite and unlink.  Never follows a symlink."""
        digest, size = hashlib.sha256(), 0
        try:
            fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
            with os.fdopen(fd, "rb") as f:
                while piece := f.read(READ_PIECE):
                    digest.update(piece)
                    size += len(piece)
        except FileNotFoundError:
            return  # gone already (another process)
        except OSError as exc:
            log.error("clips: %s could not be read before its deletion: %s", path.name, exc)
        extra = {"call": call_id} if call_id else {}
        try:
            self.deletion_log.deleted(recording=f"clip:{path.name}", sha256=digest.hexdigest() if size else None,
                                      why=why, intent=f"clip:{path.name}", size=size, **extra)
        except OSError as exc:  # destroy it all the same: plaintext must not stay for want of a log
            log.error("clips: the deletion log could not be written for %s: %s", path.name, exc)
        secure_remove(path)
        report.destroyed.append(path.name)
        self._said.forget(path.name)
        log.info("clips: %s destroyed (%s)", path.name, why)



def _regular(path: Path) -> bool:
    try:
        return stat.S_ISREG(os.lstat(path).st_mode)
    except OSError:
        return False


def _format(path: Path) -> str:
    return path.suffix.lstrip(".").lower() or "wav"


__all__ = ["CallClips", "CallNote", "ClipReport", "clip_file_name", "no_answer"]
