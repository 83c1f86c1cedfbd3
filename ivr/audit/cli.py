"""What ``ivr audit ...`` runs; each helper prints log names, line numbers and kinds (never entries).

    ivr audit verify [--log NAME]...   -> verify_command(logs, names)      exit 1 on any break
    ivr audit checkpoint               -> checkpoint_command(logs)         sign each log's head now
    ivr audit keygen                   -> keygen_command()                 a new IVR_AUDIT_KEY
    ivr audit reseal LOG --reason ...  -> reseal_command(logs, name, ...)  a new chain after a loss

``ivr recordings verify-logs`` is ``verify_command`` over the two recordings logs.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import TextIO

from redis.exceptions import RedisError

from ivr.audit.checkpoint import Signer
from ivr.audit.errors import AuditError
from ivr.audit.logs import AuditLogs
from ivr.audit.verify import LogReport


def describe(report: LogReport) -> list[str]:
    """One line for a sound log; one line per break otherwise."""
    if report.ok:
        anchored = f"anchored at line {report.anchored}" if report.anchored is not None else "not anchored yet"
        signed = (f"last signed checkpoint at line {report.checkpoint}" if report.checkpoint is not None
                  else "no signed checkpoint")
        notes = "".join(f"; note: {n}" for n in report.notes)
        return [(f"{report.log}: ok, {report.lines} line(s), chain intact, {anchored}, {signed} "
                 f"({report.path}){notes}")]
    return [f"{report.log}: BROKEN at line {b.line}: {b.kind}: {b.what} ({report.path})" for b in report.breaks]


def verify_command(logs: AuditLogs, names: Sequence[str] | None = None, *, out: TextIO | None = None) -> int:
    out = out or sys.stdout
    unknown = [n for n in names or () if n not in logs.paths]
    if unknown:
        print(f"no such audit log: {', '.join(unknown)} (logs: {', '.join(logs.paths)})", file=out)
        return 2
    try:
        reports = logs.verify(names or None)
    except RedisError as exc:
        print(f"cannot read the logs' anchors in Redis: {type(exc).__name__}", file=out)
        return 1
    for report in reports:
        for line in describe(report):
            print(line, file=out)
    return 0 if all(r.ok for r in reports) else 1


def checkpoint_command(logs: AuditLogs, *, out: TextIO | None = None) -> int:
    out = out or sys.stdout
    status = 0
    for name in logs.paths:
        try:
            made = logs.checkpoint(name, force=True)
        except (AuditError, OSError, RedisError) as exc:
            print(f"{name}: no checkpoint: {exc}", file=out)
            status = 1
            continue
        print(f"{name}: " + (f"checkpoint signed at line {made.lines}" if made is not None
                             else "nothing to sign (empty, or not matching its anchor: see ivr audit verify)"),
              file=out)
    return status


def keygen_command(*, out: TextIO | None = None) -> int:
    out = out or sys.stdout
    secret = Signer.new_secret()
    signer = Signer.from_secret(secret)
    print(f"IVR_AUDIT_KEY={secret}", file=out)
    print(f"IVR_AUDIT_PUBLIC_KEY={signer.public_b64()}", file=out)
    print(f"# key id {signer.verifier.key_id}: keep IVR_AUDIT_KEY secret (the engine's environment only); "
          "give IVR_AUDIT_PUBLIC_KEY to whoever verifies the logs", file=out)
    return 0


def reseal_command(logs: AuditLogs, name: str, *, reason: str, out: TextIO | None = None) -> int:
    """Exit 0 when resealed; 1 when there is nothing to reseal or it could not be done; 2 for
    an unknown log."""
    from ivr.audit.reseal import NothingToReseal, reseal

    out = out or sys.stdout
    if name not in logs.paths:
        print(f"no such audit log: {name} (logs: {', '.join(logs.paths)})", file=out)
        return 2
    try:
        done = reseal(logs, name, reason=reason)
    except NothingToReseal as exc:
        print(f"{name}: {exc.message}", file=out)
        return 1
    except (AuditError, OSError, RedisError) as exc:
        print(f"{name}: not resealed: {exc}", file=out)
        return 1
    entry = done.entry
    print(f"{name}: re-sealed: line 1 of {done.path} records the break "
          f"({', '.join(b['kind'] for b in entry['breaks'])}; anchored {entry['anchored_lines']} line(s) "
          f"before it), by {entry['by']}, reason: {entry['reason']}", file=out)
    if done.kept is not None:
        print(f"{name}: what was left of the log is kept, unchanged, at {done.kept}", file=out)
    print(f"{name}: " + (f"checkpoint signed at line {done.checkpoint.lines}" if done.checkpoint is not None
                         else "no checkpoint signed (IVR_AUDIT_KEY not set)"), file=out)
    return 0
