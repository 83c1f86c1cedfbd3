"""The outbox: encrypted containers this engine could not yet put in the archive.

Strategy: when the object store is down, slow or refusing, ingest keeps the container
encrypted in the local outbox (``recordings.s3.outbox_dir``), indexes the recording,
lists it in ``{P}:rec:unarchived`` and removes the plaintext as usual: a recording is
never lost and plaintext never waits for the archive.  :meth:`Outbox.flush` (from the
engine's background tick, every ``retry_every`` seconds) checks the archive is this
store (the marker), then uploads each waiting container, oldest first, and takes it off
``unarchived`` once the bucket confirmed it.  The first failure ends the round (the
archive is still away); the next round starts again.

A container whose recording the index no longer knows (purged meanwhile on another
engine, or an ingest killed before it indexed) is deleted once it is older than
``grace``, with a deletion-log line, as reconciliation does for an orphan file; a
younger one may be an ingest still running and is left for the next round.

The directory store has no outbox: its writes are final, ``flush`` finds nothing.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from ivr.recordings.audit import DeletionLog
from ivr.recordings.errors import RecordingError
from ivr.recordings.ids import id_from_filename
from ivr.recordings.said import SaidOnce
from ivr.recordings.store import RecordingStore

log = logging.getLogger("ivr.recordings.outbox")


class Outbox:
    def __init__(
        self, *, store: RecordingStore, deletion_log: DeletionLog, grace: float = 3600.0,
        retry_every: float = 10.0, clock: Callable[[], float] | None = None,
    ) -> None:
        self.store = store
        self.deletion_log = deletion_log
        self.grace = grace
        self.retry_every = retry_every
        self.clock = clock or store.clock
        self._next: float | None = None
        self._said = SaidOnce(log)

    def run_pending(self) -> int | None:
        """Flush when due (the tick calls this every second); None when not due or when the
        archive is still away (said once per cause, and again when it is back)."""
        now = self.clock()
        if self._next is not None and now < self._next:
            return None
        self._next = now + self.retry_every
        try:
            sent = self.flush()
        except RecordingError as exc:
            self._said.say("archive", "warning", f"outbox: waiting for the archive ({exc})")
            return None
        if sent:
            self._said.forget("archive")
            log.info("outbox: %d recording(s) uploaded to the archive", sent)
        return sent

    def flush(self) -> int:
        """Upload what waits; the number uploaded.  Raises ArchiveUnavailable/StoreNotReady
        when the archive cannot take them (nothing is lost: they stay in the outbox)."""
        blobs = self.store.blobs
        waiting = blobs.staged()
        if not waiting:
            return 0
        self.store.check_root()
        index = self.store.index
        sent = 0
        for name in waiting:
            rid = id_from_filename(name.rpartition("/")[2])
            if rid is None:
                continue
            if not index.exists(rid):
                info = blobs.stat(name)
                if info is not None and self.clock() - info.written >= self.grace:
                    self._discard(rid, name)
                continue
            blobs.upload(name)
            index.archived(rid)
            sent += 1
            log.info("archive: recording %s uploaded from the outbox", rid)
        return sent

    def _discard(self, rid: str, name: str) -> None:
        intent = f"outbox:{rid}"
        why = "outbox container without index entry (purged or never indexed)"
        if self.deletion_log.find(recording=rid, intent=intent) is None:
            self.deletion_log.deleted(recording=rid, sha256=None, why=why, intent=intent)
        try:
            self.store.blobs.delete(name)
        except RecordingError as exc:
            log.warning("outbox: %s not deleted from the archive yet (%s)", rid, exc)
        log.warning("outbox: %s %s deleted", why, rid)
