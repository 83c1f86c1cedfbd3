"""What ``ivr recordings ...`` runs.  Each helper prints ids and reasons only (never
personal data) and returns the process exit status.

    ivr recordings purge [--dry-run]   -> purge_command(purger, dry_run=...)
    ivr recordings reconcile           -> reconcile_command(purger)
    ivr recordings rewrap              -> rewrap_command(store)
    ivr recordings verify-logs         -> verify_logs_command(audit_path, deletion_path)
"""

from __future__ import annotations

import os
import sys
from typing import TextIO

from ivr.recordings.audit import verify_chain
from ivr.recordings.errors import RecordingError
from ivr.recordings.purge import Purger
from ivr.recordings.store import RecordingStore


def purge_command(purger: Purger, *, dry_run: bool = False, out: TextIO | None = None) -> int:
    out = out or sys.stdout
    try:
        report = purger.run(dry_run=dry_run)
    except RecordingError as exc:
        print(f"purge failed: {exc}", file=out)
        return 1
    if report.locked_out:
        print("another process is purging right now; nothing done", file=out)
        return 1
    if dry_run:
        for d in report.would_delete:
            print(f"would delete {d.recording}  ({d.why})", file=out)
        print(f"{len(report.would_delete)} recording(s) would be deleted (dry run, nothing changed)", file=out)
        return 0
    for d in report.resumed:
        print(f"deleted {d.recording}  ({d.why}; finishing an interrupted purge)", file=out)
    for d in report.deleted:
        print(f"deleted {d.recording}  ({d.why})", file=out)
    print(f"{len(report.deleted) + len(report.resumed)} recording(s) deleted", file=out)
    return 0


def reconcile_command(purger: Purger, *, orphan_grace: float = 3600.0, out: TextIO | None = None) -> int:
    out = out or sys.stdout
    try:
        report = purger.reconcile(orphan_grace=orphan_grace)
    except RecordingError as exc:
        print(f"reconcile refused: {exc}", file=out)
        return 1
    if report.locked_out:
        print("another process is purging right now; nothing done", file=out)
        return 1
    for d in report.resumed:
        print(f"finished interrupted purge of {d.recording}  ({d.why})", file=out)
    for d in report.orphans:
        print(f"deleted {d.recording}  ({d.why})", file=out)
    for name in report.unknown_files:
        print(f"left alone (not a recording): {name}", file=out)
    print(f"{len(report.resumed) + len(report.orphans)} item(s) resolved", file=out)
    return 0


def rewrap_command(store: RecordingStore, *, out: TextIO | None = None) -> int:
    out = out or sys.stdout
    moved = failed = 0
    for meta in store.list(limit=sys.maxsize):
        try:
            if store.rewrap(meta.id):
                moved += 1
        except RecordingError as exc:
            failed += 1
            print(f"could not rewrap {meta.id}: {type(exc).__name__}: {exc.message}", file=out)
    current = store.keyring.current.key_id if store.keyring else "?"
    print(f"{moved} recording(s) moved to key {current}; {failed} failed", file=out)
    print("key usage: " + ", ".join(f"{k}={n}" for k, n in sorted(store.key_usage().items())), file=out)
    return 1 if failed else 0


def verify_logs_command(*paths: str | os.PathLike[str], out: TextIO | None = None) -> int:
    out = out or sys.stdout
    status = 0
    for path in paths:
        try:
            n = verify_chain(path)
            print(f"{path}: {n} line(s), chain intact", file=out)
        except RecordingError as exc:
            print(f"{path}: BROKEN: {exc.message}", file=out)
            status = 1
    return status
