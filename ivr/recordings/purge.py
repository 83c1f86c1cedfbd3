"""Retention: the purge of expired recordings, start-up reconciliation, the schedule.

Strategy: a two-phase delete driven by an intent recorded in the index, so a purge
killed at any point is finished, exactly once, by the next run.

For each recording that is stored, not on legal hold and past its expiry:

1. **mark** - one Lua script sets ``state=purging`` with a fresh ``purge_intent`` token
   and the reason, moves the id from ``by-expiry`` to ``purging`` (a hold set from now
   on is refused; a hold set earlier means it is not marked at all);
2. **log** - append ``{event: deleted, recording, sha256, why, intent}`` to the
   hash-chained deletion log (fsynced): the proof exists before the audio is gone;
3. **unlink** the file (a missing file is fine) and fsync its directory - or delete the
   object, and any outbox copy (:mod:`ivr.recordings.blobs`);
4. **unindex** - one script deletes the hash and the id from every set.

An interrupted run leaves the id in ``purging``; every run (and ``reconcile``) first
finishes those: it writes the log line only if no line with that recording *and
intent* exists yet, then steps 3 and 4, each idempotent.  A file is never deleted
without its log line; an index entry is removed only after its file is gone.  After
a crash during step 1 or before it, nothing has changed.

``reconcile()`` (engine start, ``ivr recordings reconcile``) also resolves what a
crash outside a purge can leave, deterministically, each with a deletion-log line:

* an index entry whose file is missing -> the entry is purged ("file missing");
* an encrypted file with no index entry, older than ``orphan_grace`` seconds (an
  ingest killed between rename and index) -> the file is deleted ("orphan file");
* a temporary ``.<id>.<rand>.tmp`` older than ``orphan_grace`` -> deleted
  ("incomplete write").
Anything else found under the root (or the bucket's prefix) is reported and left alone.
An entry whose container waits in an engine's outbox (``{P}:rec:unarchived``) is not
missing.  Reconcile needs the archive: when it cannot be reached it raises
:class:`ArchiveUnavailable` and the engine tries again at its next tick.

Only one engine process purges at a time (``{P}:rec:purge-lock``, ``SET NX EX``); a
run that finds the lock taken does nothing and says so.  A process killed while
holding the lock blocks purges until the lock expires (``lock_ttl``, 10 minutes).
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field

from ivr.recordings.audit import Clock, DeletionLog, iso
from ivr.recordings.ids import id_from_filename, id_from_tempname
from ivr.recordings.store import MARKER, RecordingStore

log = logging.getLogger("ivr.recordings.purge")

Hook = Callable[[str, str], None]
STEPS = ("marked", "logged", "unlinked", "unindexed")


@dataclass(frozen=True)
class Deletion:
    recording: str
    why: str


@dataclass
class PurgeReport:
    dry_run: bool = False
    deleted: list[Deletion] = field(default_factory=list)
    # Purges that an earlier, interrupted run had started (finished now).
    resumed: list[Deletion] = field(default_factory=list)
    # Dry run: what a real run would delete now.
    would_delete: list[Deletion] = field(default_factory=list)
    # Reconcile: files and entries found and what was done.
    orphans: list[Deletion] = field(default_factory=list)
    unknown_files: list[str] = field(default_factory=list)
    locked_out: bool = False


class Purger:
    def __init__(
        self,
        *,
        store: RecordingStore,
        deletion_log: DeletionLog,
        clock: Clock | None = None,
        hook: Hook | None = None,
        batch: int = 1000,
        lock_ttl: int = 600,
    ) -> None:
        self.store = store
        self.index = store.index
        self.deletion_log = deletion_log
        self.clock = clock or store.clock
        self.hook = hook
        self.batch = batch
        self.lock_ttl = lock_ttl

    def _step(self, step: str, rid: str) -> None:
        if self.hook is not None:
            self.hook(step, rid)

    # -- purge --------------------------------------------------------------------------

    def run(self, *, dry_run: bool = False) -> PurgeReport:
        """Delete every stored, unheld recording whose expiry has passed."""
        now = self.clock()
        report = PurgeReport(dry_run=dry_run)
        if dry_run:
            for rid in self.index.purging():
                report.would_delete.append(Deletion(rid, self.index.purge_fields(rid).get("purge_why", "")))
            for rid in self.index.due(now, limit=1_000_000):
                meta = self.index.get(rid)
                if meta is not None and meta.state == "stored" and not meta.hold:
                    report.would_delete.append(Deletion(rid, _why(meta.retention_days, meta.expires)))
            return report
        token = secrets.token_hex(8)
        if not self.index.lock_purge(token, ttl_seconds=self.lock_ttl):
            report.locked_out = True
            log.info("purge skipped: another process holds the purge lock")
            return report
        try:
            self._resume(report)
            seen: set[str] = set()
            while True:
                due = [rid for rid in self.index.due(now, limit=self.batch) if rid not in seen]
                if not due:
                    break
                for rid in due:
                    seen.add(rid)
                    meta = self.index.get(rid)
                    if meta is None:
                        continue
                    why = _why(meta.retention_days, meta.expires)
                    intent = secrets.token_hex(8)
                    if self.index.mark_expired(rid, now=now, why=why, intent=intent):
                        self._step("marked", rid)
                        self._finish(rid, fresh=True)
                        report.deleted.append(Deletion(rid, why))
        finally:
            self.index.unlock_purge(token)
        if report.deleted or report.resumed:
            log.info("purge: %d deleted, %d resumed", len(report.deleted), len(report.resumed))
        return report

    def _resume(self, report: PurgeReport) -> None:
        for rid in self.index.purging():
            why = self.index.purge_fields(rid).get("purge_why", "")
            self._finish(rid, fresh=False)
            report.resumed.append(Deletion(rid, why))
            log.warning("purge of %s was interrupted earlier; finished now", rid)

    def _finish(self, rid: str, *, fresh: bool) -> None:
        """Steps 2-4 for a recording marked ``purging``; idempotent."""
        fields = self.index.purge_fields(rid)
        intent = fields.get("purge_intent")
        if intent is None:  # the hash is already gone: only the set membership is left
            self.index.remove(rid)
            return
        if fresh or self.deletion_log.find(recording=rid, intent=intent) is None:
            self.deletion_log.deleted(
                recording=rid,
                sha256=fields.get("sha256"),
                why=fields.get("purge_why", ""),
                intent=intent,
                decided_at=iso(float(fields.get("purge_at", "0"))),
            )
        self._step("logged", rid)
        self.store.delete_blob(rid)
        self._step("unlinked", rid)
        self.index.remove(rid)
        self._step("unindexed", rid)

    # -- reconcile ------------------------------------------------------------------------

    def reconcile(self, *, orphan_grace: float = 3600.0) -> PurgeReport:
        """Finish interrupted purges; resolve files without entries and entries without files."""
        self.store.check_root()
        report = PurgeReport()
        token = secrets.token_hex(8)
        if not self.index.lock_purge(token, ttl_seconds=self.lock_ttl):
            report.locked_out = True
            return report
        try:
            self._resume(report)
            now = self.clock()
            for rid in list(self.index.ids()):
                meta = self.index.get(rid)
                if meta is None or meta.state != "stored" or self.store.has_blob(rid):
                    continue
                why = "file missing at reconcile"
                if self.index.mark_purging(rid, now=now, why=why, intent=secrets.token_hex(8)):
                    log.error("recording %s: indexed but its file is missing; entry removed", rid)
                    self._finish(rid, fresh=True)
                    report.orphans.append(Deletion(rid, why))
            self._sweep_files(report, now, orphan_grace)
        finally:
            self.index.unlock_purge(token)
        return report

    def _sweep_files(self, report: PurgeReport, now: float, grace: float) -> None:
        blobs = self.store.blobs
        for info in blobs.list():
            if info.name == MARKER:
                continue
            shard, _, entry = info.name.partition("/")
            rid = id_from_filename(entry)
            temp_of = id_from_tempname(entry)
            if "/" in entry or len(shard) != 2 or (rid or temp_of or "")[:2] != shard:
                report.unknown_files.append(info.name)
                continue
            if rid is not None and self.index.exists(rid):
                continue
            current = blobs.stat(info.name)  # the time the engine wrote it (S3: metadata)
            if current is None or now - current.written < grace:
                continue
            if rid is not None:
                why, intent = "orphan file without index entry", f"orphan:{rid}"
            else:
                assert temp_of is not None
                rid, why, intent = temp_of, "incomplete write (temporary file)", f"temp:{entry}"
            if self.deletion_log.find(recording=rid, intent=intent) is None:
                self.deletion_log.deleted(recording=rid, sha256=None, why=why, intent=intent)
            blobs.delete(info.name)
            report.orphans.append(Deletion(rid, why))
            log.warning("reconcile: %s %s deleted", why, rid)
        for name in report.unknown_files:
            log.warning("reconcile: unexpected file in the recordings store left alone: %s", name)


def _why(days: int, expires: float) -> str:
    return f"retention {days} days ended {iso(expires)}"


class PurgeSchedule:
    """Runs the purge every ``every_seconds``; the engine's background loop calls
    :meth:`run_pending` (no threads here).  The first call runs a purge at once."""

    def __init__(self, purger: Purger, *, every_seconds: float, clock: Clock | None = None) -> None:
        self.purger = purger
        self.every = every_seconds
        self.clock = clock or purger.clock
        self.next_due: float | None = None

    def run_pending(self, now: float | None = None) -> PurgeReport | None:
        now = self.clock() if now is None else now
        if self.next_due is not None and now < self.next_due:
            return None
        self.next_due = now + self.every
        try:
            return self.purger.run()
        except Exception:  # the engine must keep taking calls; the next run retries
            log.exception("scheduled purge failed; next attempt in %ss", self.every)
            return None


