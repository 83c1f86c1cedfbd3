"""What ``ivr recordings ...`` runs.  Each helper prints ids and reasons only (never
personal data) and returns the process exit status.

    ivr recordings purge [--dry-run]   -> purge_command(purger, dry_run=...)
    ivr recordings reconcile           -> reconcile_command(purger)
    ivr recordings rewrap              -> rewrap_command(store): key rotation, see below
    ivr recordings verify-logs         -> ivr.audit.cli.verify_command over the recordings logs

Key rotation is one command.  Put the new key first in ``IVR_RECORDING_KEY``
(``k2:NEW,k1:OLD``), restart the engine (new recordings use k2), run ``ivr recordings
rewrap``: every stored recording's data key is re-wrapped under k2 (the audio is copied
verbatim, each file replaced atomically), with progress; a recording already under k2 is
left alone, so the command is idempotent and an interrupted run is resumed by running it
again.  When it says no recording uses k1 any more, remove k1 from the variable.
"""

from __future__ import annotations

import sys
from typing import TextIO

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
    except OSError as exc:  # the deletion log: no deletion without its proof
        print(f"purge stopped: the deletion log cannot be written ({exc}); see ivr audit verify", file=out)
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
    except OSError as exc:
        print(f"reconcile stopped: the deletion log cannot be written ({exc}); see ivr audit verify", file=out)
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


def rewrap_command(store: RecordingStore, *, out: TextIO | None = None, every: int = 100) -> int:
    """Every stored recording moved to the current master key; progress every ``every``."""
    out = out or sys.stdout
    if store.keyring is None:
        print("no recording key configured (IVR_RECORDING_KEY or recordings.key_file): nothing to rewrap", file=out)
        return 1
    current = store.keyring.current.key_id
    stored = store.list(limit=sys.maxsize)
    moved = kept = failed = 0
    for done, meta in enumerate(stored, 1):
        try:
            if store.rewrap(meta.id):
                moved += 1
            else:
                kept += 1
        except RecordingError as exc:
            failed += 1
            print(f"could not rewrap {meta.id}: {type(exc).__name__}: {exc.message}", file=out)
        if done % every == 0 and done < len(stored):
            print(f"{done}/{len(stored)} recording(s) done", file=out)
    print(f"{moved} recording(s) moved to key {current}, {kept} already under it; {failed} failed", file=out)
    usage = store.key_usage()
    print("key usage: " + (", ".join(f"{k}={n}" for k, n in sorted(usage.items())) or "no recordings"), file=out)
    unused = [k for k in store.keyring.key_ids[1:] if k not in usage]
    still = sorted(k for k in usage if k != current)
    missing = [k for k in still if k not in store.keyring.key_ids]
    if missing:  # e.g. a shell without the engine's IVR_RECORDING_KEY: running again cannot help
        print(f"recordings under {', '.join(missing)}, a key this command does not have (it has "
              f"{', '.join(store.keyring.key_ids)}): they cannot be read or moved until it is given again "
              "(IVR_RECORDING_KEY as the engine has it, older keys after the new one); a second run "
              "without it changes nothing", file=out)
    elif still:
        print(f"still in use: {', '.join(still)}: run this command again before removing a key", file=out)
    elif unused:
        print(f"no recording uses {', '.join(unused)} any more: it may be removed from IVR_RECORDING_KEY", file=out)
    return 1 if failed else 0
