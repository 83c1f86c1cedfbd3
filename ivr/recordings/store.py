"""The recording store: ingest, metadata, audited access, legal hold, key rotation.

Strategy
--------
* **Ingest** (front ends call it when the operator conversation ends): the plaintext
  audio is encrypted as it is read into a temporary file beside its final name,
  fsynced and renamed (container.py); only then is the recording indexed in Redis.
  A crash between the two leaves an encrypted file without an index entry, which
  :meth:`Purger.reconcile` removes; never an index entry without its file.  A
  plaintext source *file* is overwritten with zeros, fsynced and unlinked once the
  recording is indexed (best effort on journaling/flash storage; keep the front
  ends' spool on the same protected host).  If ingest fails the source is left as it
  was, so nothing is lost and the front end may retry.
* **No key, no recording**: without a keyring ingest raises :class:`NoRecordingKey`.
  No consent (``Consent.granted`` false) raises :class:`NoConsent` - except for the
  clips in :data:`KINDS_WITHOUT_CONSENT`: the audio of the consent answer itself (kind
  ``"consent"``), kept whatever the answer as the proof of it, and the caller's spoken
  name (kind ``"name"``), which is part of identifying the caller for the operator, not
  a recording of the conversation (:mod:`ivr.recordings.clips`); both under the call's
  retention.
* **Access** (listen, download, export) needs role ``supervisor`` or ``auditor`` and a
  non-empty reason.  Every attempt writes one audit line *before* any audio leaves
  the store: ``refused`` (role, reason, bad id), ``failed`` (unknown, unreadable) or
  ``allowed``; a failure part way through a stream adds a ``failed`` line.  If the
  audit line cannot be written, access is refused.
* **The one operator permission** (:meth:`RecordingStore.open_name_clip`): an operator
  may listen to the caller's spoken name (kind ``"name"``) of a call assigned to them -
  nothing else, no download, no other kind, no other call.  Whether the call is
  assigned to them is the operator console's to say (routing knows, the store does
  not); the store checks everything else and audits every attempt the same way.
* **Where the containers live** is a :class:`ivr.recordings.blobs.Blobs`: a directory
  (default) or an S3-compatible bucket (:mod:`ivr.recordings.s3`); the store only uses
  names (``ab/<id>.rec``).  When the archive cannot confirm a write, the container is
  kept encrypted in the local outbox, the recording is indexed and listed in
  ``{P}:rec:unarchived`` and the plaintext removed as usual; the outbox
  (:mod:`ivr.recordings.outbox`) uploads it later.  Listening to a recording the
  archive cannot give says :class:`ArchiveUnavailable` ("archive unavailable").
* **Store identity**: ``initialise()`` writes the blob ``.ivr-recordings`` (a file in
  the root, or an object in the bucket) holding a store id that is also kept in Redis
  (``{P}:rec:store-id``).  Ingest and reconcile refuse (:class:`StoreNotReady`) when
  the two disagree, e.g. when the recordings volume is not mounted or the bucket is
  another store's - so an empty mount point is never mistaken for "all files lost".
  An archive that cannot be reached does not stop ingest once the store was
  initialised (the outbox keeps the container and checks the marker before uploading);
  reconcile and the outbox need it.
* **Rewrap** replaces the file atomically and refuses recordings already being
  purged; if a purge removes the file while a rewrap is copying it, the rewrap's
  rename can recreate it without an index entry - the next ``reconcile`` deletes
  that orphan (after ``orphan_grace``) with a deletion-log line.
"""

from __future__ import annotations

import builtins
import hashlib
import json
import logging
import os
import secrets
import stat
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import IO, Self

from redis import Redis

from ivr.recordings.audit import AuditLog, Clock
from ivr.recordings.blobs import Blobs, DirectoryBlobs, Writer
from ivr.recordings.container import (
    DEFAULT_CHUNK_SIZE,
    ContainerReader,
    read_key_id,
    rewrap_container,
    write_container,
)
from ivr.recordings.errors import (
    AccessDenied,
    ArchiveUnavailable,
    BadRecordingId,
    LegalHoldConflict,
    NoConsent,
    NoRecordingKey,
    RecordingError,
    RecordingTampered,
    StorageFull,
    StoreNotReady,
    UnknownRecording,
    UnreadableRecording,
)
from ivr.recordings.ids import SUFFIX, new_recording_id, validate_id
from ivr.recordings.index import RecordingIndex
from ivr.recordings.keys import Keyring
from ivr.recordings.meta import Consent, PausedSpan, RecordingMeta, _s

log = logging.getLogger("ivr.recordings")

ACCESS_ROLES = frozenset({"supervisor", "auditor"})
# Kept without the caller's consent to record: the consent answer (the proof of it) and
# the spoken name (identification, played to the operator the call is assigned to).
KINDS_WITHOUT_CONSENT = frozenset({"consent", "name"})
MARKER = ".ivr-recordings"
DAY = 86400
READ_PIECE = 1 << 20

Audio = bytes | str | os.PathLike[str] | IO[bytes] | Iterable[bytes]


@dataclass(frozen=True)
class Retention:
    """Days a recording is kept: per queue, else the default (``recordings.retention_days``)."""

    default_days: int = 30
    per_queue: Mapping[str, int] = field(default_factory=dict)

    def days_for(self, queue: str | None) -> int:
        if queue is not None and queue in self.per_queue:
            return self.per_queue[queue]
        return self.default_days


@dataclass(frozen=True)
class Export:
    audio_path: Path
    meta_path: Path
    meta: RecordingMeta


class RecordingStream:
    """Decrypted audio of one recording, streamed; a context manager and an iterator.

    At the end of the stream the plaintext size and sha256 are checked against the
    index.  An error while streaming is audited and raised; the consumer must discard
    what it received.
    """

    def __init__(self, reader: ContainerReader, meta: RecordingMeta, on_failure: Callable[[RecordingError], None]) -> None:
        self.meta = meta
        self._reader = reader
        self._on_failure = on_failure

    def __enter__(self) -> Self:
        return self

    def __exit__(self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None) -> None:
        self.close()

    def close(self) -> None:
        self._reader.close()

    def __iter__(self) -> Iterator[bytes]:
        digest = hashlib.sha256()
        size = 0
        try:
            for piece in self._reader:
                digest.update(piece)
                size += len(piece)
                yield piece
            if size != self.meta.size or digest.hexdigest() != self.meta.sha256:
                raise RecordingTampered("audio does not match its indexed sha256/size", recording_id=self.meta.id)
        except RecordingError as exc:
            self._on_failure(exc)
            raise
        finally:
            self.close()

    def read(self) -> bytes:
        return b"".join(self)


class RecordingStore:
    def __init__(
        self,
        *,
        root: str | os.PathLike[str] | None = None,
        blobs: Blobs | None = None,
        keyring: Keyring | None,
        redis: Redis,
        audit: AuditLog,
        clock: Clock = time.time,
        prefix: str = "ivr",
        retention: Retention | None = None,
        chunk_size: int = DEFAULT_CHUNK_SIZE,
        write: Writer = os.write,
    ) -> None:
        if blobs is None:
            if root is None:
                raise TypeError("give the store a root directory or its blobs")
            blobs = DirectoryBlobs(root=Path(root))
        elif root is not None:
            raise TypeError("give the store a root directory or its blobs, not both")
        self.blobs: Blobs = blobs
        self.keyring = keyring
        self.index = RecordingIndex(redis, prefix=prefix)
        self.audit = audit
        self.clock = clock
        self.retention = retention or Retention()
        self.chunk_size = chunk_size
        self._write = write
        self._store_id_key = f"{self.index.keys.tag}:rec:store-id"

    # -- the store root -------------------------------------------------------------

    def initialise(self) -> None:
        """Create the root and its marker for a new store; check them for an existing one."""
        known = self.index.redis.get(self._store_id_key)
        if known is None:
            self.blobs.create()
            try:
                store_id = self.blobs.read_small(MARKER).decode().strip()
            except FileNotFoundError:
                store_id = secrets.token_hex(16)
                self.blobs.put_small(MARKER, (store_id + "\n").encode())
            self.index.redis.set(self._store_id_key, store_id, nx=True)
        self.check_root()

    def known(self) -> bool:
        """Redis knows this store (it was initialised once, by any engine)."""
        return self.index.redis.get(self._store_id_key) is not None

    def check_root(self) -> None:
        """The marker blob and Redis name the same store; else StoreNotReady.

        ArchiveUnavailable when the archive cannot be asked.
        """
        known = self.index.redis.get(self._store_id_key)
        try:
            marker: str | None = self.blobs.read_small(MARKER).decode().strip()
        except (OSError, UnicodeDecodeError):
            marker = None
        if known is None or marker is None or _s(known) != marker:
            raise StoreNotReady(
                f"recordings store {self.blobs.where} is not the initialised store for this index "
                "(volume not mounted? wrong directory or bucket?)",
                root=self.blobs.where,
            )

    def _check_root_for_ingest(self) -> None:
        """As check_root, but an archive that cannot be asked is no reason to refuse a store
        that Redis knows was initialised: the container waits, encrypted, in the outbox,
        which checks the marker before it uploads anything (so a wrong bucket gets none)."""
        try:
            self.check_root()
        except ArchiveUnavailable as exc:
            if not self.known():
                raise
            log.warning("recordings: ingest while the archive is unavailable (%s); kept in the outbox",
                        exc.details.get("cause"))

    @staticmethod
    def blob_name(recording_id: str) -> str:
        rid = validate_id(recording_id)
        return f"{rid[:2]}/{rid}{SUFFIX}"

    def has_blob(self, recording_id: str) -> bool:
        """The container exists (in the archive or this host's outbox) or waits for upload."""
        if self.index.is_unarchived(recording_id):
            return True
        return self.blobs.stat(self.blob_name(recording_id)) is not None

    def delete_blob(self, recording_id: str) -> None:
        self.blobs.delete(self.blob_name(recording_id))

    # -- ingest -----------------------------------------------------------------------

    def ingest(
        self,
        audio: Audio,
        *,
        call_id: str,
        consent: Consent,
        appeal: str | None = None,
        operator: str | None = None,
        queue: str | None = None,
        kind: str = "operator",
        audio_format: str = "wav",
        recording_id: str | None = None,
        source: str | None = None,
        paused: tuple[PausedSpan, ...] = (),
    ) -> RecordingMeta:
        """Encrypt and store a finished recording; return its metadata.

        ``audio``: a path to a plaintext file (securely removed after success), bytes,
        a binary file object, or an iterable of byte pieces.  ``paused``: where the
        operator paused it (:mod:`ivr.recordings.pauses`), kept in the metadata.
        """
        if self.keyring is None:
            log.error("recording refused for call %s: no recording key", call_id)
            raise NoRecordingKey("no recording master key: recording is off")
        if not consent.granted and kind not in KINDS_WITHOUT_CONSENT:
            raise NoConsent("the caller did not consent to recording")
        rid = validate_id(recording_id) if recording_id is not None else new_recording_id()
        if not audio_format.isalnum() or len(audio_format) > 8:
            raise RecordingError("audio_format must be a short alphanumeric extension", recording_id=rid)
        self._check_root_for_ingest()
        if self.index.exists(rid):
            raise BadRecordingId("a recording with this id already exists", recording_id=rid)
        source_path = Path(audio) if isinstance(audio, str | os.PathLike) else None
        if source_path is not None and not _is_regular_file(source_path):
            raise RecordingError("the audio source must be a regular file (not a symlink)", recording_id=rid)
        name = self.blob_name(rid)
        try:
            written = write_container(
                self.blobs, name, rid, _pieces(audio), self.keyring, chunk_size=self.chunk_size, write=self._write
            )
        except StorageFull:
            log.error("recording %s of call %s not stored: storage full", rid, call_id)
            raise
        created = self.clock()
        days = self.retention.days_for(queue)
        meta = RecordingMeta(
            id=rid,
            call_id=call_id,
            consent=consent,
            created=created,
            expires=created + days * DAY,
            retention_days=days,
            size=written.size,
            sha256=written.sha256,
            key_id=written.key_id,
            appeal=appeal,
            operator=operator,
            queue=queue,
            kind=kind,
            audio_format=audio_format,
            source=source,
            paused=paused,
        )
        try:
            if not written.archived:  # first: reconcile must never take it for a lost file
                self.index.mark_unarchived(rid, at=created)
            if not self.index.add(meta):
                raise BadRecordingId("a recording with this id already exists", recording_id=rid)
        except BaseException:
            try:  # never leave a container the index does not know (else reconcile will)
                self.blobs.delete(name)
            except RecordingError as exc:
                log.error("recording %s: not indexed and not removed (%s); reconcile removes it", rid, exc)
            self.index.archived(rid)
            raise
        if source_path is not None:
            secure_remove(source_path)
        log.info("recording %s stored (%d bytes, key %s)", rid, meta.size, meta.key_id)
        return meta

    # -- metadata ---------------------------------------------------------------------

    def meta(self, recording_id: str) -> RecordingMeta:
        rid = validate_id(recording_id)
        meta = self.index.get(rid)
        if meta is None or meta.state != "stored":
            raise UnknownRecording("no such recording", recording_id=rid)
        return meta

    def list(
        self, *, start: float | None = None, end: float | None = None, limit: int = 100
    ) -> builtins.list[RecordingMeta]:
        """Stored recordings created in [start, end], oldest first (metadata only)."""
        out: builtins.list[RecordingMeta] = []
        lo = float("-inf") if start is None else start
        hi = float("inf") if end is None else end
        for rid in self.index.ids(start=lo, end=hi):
            meta = self.index.get(rid)
            if meta is not None and meta.state == "stored":
                out.append(meta)
                if len(out) >= limit:
                    break
        return out

    # -- access -----------------------------------------------------------------------

    def open_for(
        self, recording_id: str, *, user: str, role: str, reason: str, action: str = "listen"
    ) -> RecordingStream:
        """Authorise, audit and open a recording for listening or download."""
        shown = recording_id if isinstance(recording_id, str) else repr(recording_id)

        def audit(outcome: str, detail: str | None = None) -> None:
            self.audit.record(
                actor=user, role=role, action=action, recording=shown[:80], reason=reason,
                outcome=outcome, detail=detail,
            )

        if role not in ACCESS_ROLES:
            audit("refused", f"role '{role}' may not access recordings")
            raise AccessDenied(f"role '{role}' may not access recordings", recording_id=None, user=user)
        return self._open(recording_id, user=user, reason=reason, audit=audit)

    def open_name_clip(
        self, recording_id: str, *, call_id: str, user: str, operator: str | None,
        assigned_to: str | None, reason: str,
    ) -> RecordingStream:
        """An operator listens to the caller's spoken name of a call assigned to them.

        The narrow exception to "supervisor or auditor only": ``assigned_to`` is the
        operator the console found the call ``call_id`` reserved for, connected to or
        handled by (routing's word, not the request's); it must be ``operator``.  The
        recording must be of kind ``"name"`` and of that call.  Every attempt is audited
        (role ``operator``, action ``listen``), refusals included.
        """
        shown = recording_id if isinstance(recording_id, str) else repr(recording_id)

        def audit(outcome: str, detail: str | None = None) -> None:
            self.audit.record(
                actor=user, role="operator", action="listen", recording=shown[:80], reason=reason,
                outcome=outcome, detail=detail,
            )

        if operator is None or assigned_to != operator:
            audit("refused", f"call {call_id[:80]} is not assigned to this operator")
            raise AccessDenied("an operator may only hear the name clip of a call assigned to them", user=user)

        def permitted(meta: RecordingMeta) -> None:
            if meta.kind != "name" or meta.call_id != call_id:
                audit("refused", f"an operator may only hear the name clip of their call ({call_id[:80]}); "
                      f"this is a '{meta.kind}' recording")
                raise AccessDenied("an operator may only hear the name clip of a call assigned to them",
                                   recording_id=meta.id, user=user)

        return self._open(recording_id, user=user, reason=reason, audit=audit, permitted=permitted)

    def audit_refusal(self, recording: str, *, user: str, role: str, reason: str, detail: str,
                      action: str = "listen") -> None:
        """Audit an access refused before the store was asked (e.g. another operator's call)."""
        self.audit.record(actor=user, role=role, action=action, recording=recording[:80], reason=reason,
                          outcome="refused", detail=detail)

    def _open(
        self, recording_id: str, *, user: str, reason: str, audit: Callable[..., None],
        permitted: Callable[[RecordingMeta], None] | None = None,
    ) -> RecordingStream:
        if not reason or not reason.strip():
            audit("refused", "no reason given")
            raise AccessDenied("a reason is required to access a recording", user=user)
        try:
            rid = validate_id(recording_id)
        except BadRecordingId as exc:
            audit("refused", f"bad recording id: {exc.message}")
            log.warning("access by %s refused: bad recording id %s", user, exc.details.get("given"))
            raise
        try:
            meta = self.meta(rid)
        except RecordingError as exc:
            audit("failed", f"{type(exc).__name__}: {exc.message}")
            raise
        if permitted is not None:
            permitted(meta)  # audits and raises a refusal
        try:
            if self.keyring is None:
                raise NoRecordingKey("no recording master key: recordings cannot be read", recording_id=rid)
            reader = ContainerReader(self.blobs.open(self.blob_name(rid)), rid, self.keyring, expected_size=meta.size)
        except FileNotFoundError:
            if self.index.is_unarchived(rid):
                audit("failed", "ArchiveUnavailable: not yet uploaded from the engine that recorded it")
                raise ArchiveUnavailable(
                    "archive unavailable: the recording waits in another engine's outbox",
                    recording_id=rid, archive=self.blobs.where, cause="not uploaded yet",
                ) from None
            audit("failed", "file missing")
            log.error("recording %s: indexed but its file is missing", rid)
            raise UnknownRecording("the recording's file is missing", recording_id=rid) from None
        except RecordingError as exc:
            audit("failed", f"{type(exc).__name__}: {exc.message}")
            if isinstance(exc, UnreadableRecording):
                log.error("recording %s unreadable: %s", rid, exc)
            raise
        try:
            audit("allowed")
        except BaseException:
            reader.close()
            raise

        def on_failure(exc: RecordingError) -> None:
            log.error("recording %s failed while streaming: %s", rid, exc)
            audit("failed", f"{type(exc).__name__}: {exc.message}")

        return RecordingStream(reader, meta, on_failure)

    def read_for(self, recording_id: str, *, user: str, role: str, reason: str, action: str = "download") -> bytes:
        """The whole decrypted recording (authenticated before it is returned)."""
        with self.open_for(recording_id, user=user, role=role, reason=reason, action=action) as stream:
            return stream.read()

    def export_copy(
        self, recording_id: str, *, user: str, role: str, reason: str, dest_dir: str | os.PathLike[str]
    ) -> Export:
        """A citizen's copy: ``<dest>/<id>.<format>`` (decrypted audio) and ``<id>.json``.

        Written to temporary files and renamed only after the audio is fully
        authenticated; audited as action ``export``.
        """
        dest = Path(dest_dir)
        stream = self.open_for(recording_id, user=user, role=role, reason=reason, action="export")
        meta = stream.meta
        audio_path = dest / f"{meta.id}.{meta.audio_format}"
        meta_path = dest / f"{meta.id}.json"
        tmp_audio = dest / f".{meta.id}.{secrets.token_hex(8)}.part"
        tmp_meta = tmp_audio.with_suffix(".json.part")
        try:
            with stream, open(tmp_audio, "xb") as out:
                out.writelines(stream)
                out.flush()
                os.fsync(out.fileno())
            document = {"recording": meta.public(), "exported_at": self.clock(), "exported_by": user}
            tmp_meta.write_text(json.dumps(document, ensure_ascii=False, indent=2, sort_keys=True))
            os.replace(tmp_audio, audio_path)
            os.replace(tmp_meta, meta_path)
        finally:
            tmp_audio.unlink(missing_ok=True)
            tmp_meta.unlink(missing_ok=True)
        return Export(audio_path=audio_path, meta_path=meta_path, meta=meta)

    # -- legal hold ---------------------------------------------------------------------

    def set_hold(self, recording_id: str, *, hold: bool, user: str, role: str, reason: str) -> RecordingMeta:
        """Put a legal hold on a recording (no purge) or release it; audited."""
        action = "hold" if hold else "release-hold"
        rid_shown = recording_id[:80] if isinstance(recording_id, str) else repr(recording_id)[:80]

        def audit(outcome: str, detail: str | None = None) -> None:
            self.audit.record(
                actor=user, role=role, action=action, recording=rid_shown, reason=reason,
                outcome=outcome, detail=detail,
            )

        if role not in ACCESS_ROLES or not reason.strip():
            audit("refused", "role not allowed" if role not in ACCESS_ROLES else "no reason given")
            raise AccessDenied(f"'{role}' may not change a legal hold (a reason is required)", user=user)
        try:
            rid = validate_id(recording_id)
        except BadRecordingId as exc:
            audit("refused", f"bad recording id: {exc.message}")
            raise
        result = self.index.set_hold(rid, hold=hold, reason=reason)
        if result == -1:
            audit("failed", "unknown recording")
            raise UnknownRecording("no such recording", recording_id=rid)
        if result == -2:
            audit("failed", "purge already started")
            raise LegalHoldConflict("the recording is already being purged", recording_id=rid)
        audit("allowed")
        return self.meta(rid)

    # -- key rotation -------------------------------------------------------------------

    def rewrap(self, recording_id: str) -> bool:
        """Move a recording to the current master key (header only); False if already there."""
        if self.keyring is None:
            raise NoRecordingKey("no recording master key")
        meta = self.meta(recording_id)
        outcome = rewrap_container(self.blobs, self.blob_name(meta.id), meta.id, self.keyring, write=self._write)
        if outcome == "unchanged":
            return False
        if outcome == "staged":
            self.index.mark_unarchived(meta.id, at=self.clock())
        self.index.set_key_id(meta.id, self.keyring.current.key_id)
        log.info("recording %s re-wrapped under key %s", meta.id, self.keyring.current.key_id)
        return True

    def key_usage(self) -> dict[str, int]:
        """How many stored recordings each master key id wraps (read from the files)."""
        usage: dict[str, int] = {}
        for rid in self.index.ids():
            try:
                key_id = read_key_id(self.blobs.open(self.blob_name(rid)), rid)
            except (OSError, RecordingError):
                key_id = "?"
            usage[key_id] = usage.get(key_id, 0) + 1
        return usage


def _pieces(audio: Audio) -> Iterator[bytes]:
    if isinstance(audio, bytes | bytearray | memoryview):
        yield bytes(audio)
        return
    if isinstance(audio, str | os.PathLike):
        fd = os.open(audio, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
        with os.fdopen(fd, "rb") as f:
            yield from _read_pieces(f)
        return
    if hasattr(audio, "read"):
        yield from _read_pieces(audio)  # type: ignore[arg-type]
        return
    for piece in audio:
        yield bytes(piece)


def _read_pieces(f: IO[bytes]) -> Iterator[bytes]:
    while True:
        piece = f.read(READ_PIECE)
        if not piece:
            return
        yield piece


def _is_regular_file(path: Path) -> bool:
    try:
        return stat.S_ISREG(os.lstat(path).st_mode)
    except OSError:
        return False


def secure_remove(path: Path) -> None:
    """Overwrite a plaintext file with zeros, fsync, unlink.  Failures are logged, not raised.

    Never follows a symlink (a spool entry pointing elsewhere must not zero its target).
    """
    try:
        fd = os.open(path, os.O_WRONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
        try:
            remaining = os.fstat(fd).st_size
            zeros = bytes(min(remaining, READ_PIECE))
            while remaining > 0:
                n = os.write(fd, zeros[: min(remaining, len(zeros))])
                remaining -= n
            os.fsync(fd)
        finally:
            os.close(fd)
        os.unlink(path)
    except OSError as exc:
        log.error("could not securely remove plaintext %s: %s", path, exc)


