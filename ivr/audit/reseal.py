"""Starting a broken log's chain again, once the incident is recorded: ``ivr audit reseal``.

    ivr audit reseal recordings-access --reason "disk replaced; incident 2026-114"

A log that lost lines (deleted, emptied, cut, edited) refuses every append until it is
restored (:mod:`ivr.audit.chain`): nothing the engine audits can be done meanwhile, so
listening back and the citizen's copy stop.  When no backup can restore it, the security
officer records the loss and starts a new chain with this command.  It:

1. verifies the log as ``ivr audit verify`` does and refuses a sound log (nothing to reseal)
   and a reason left empty;
2. under the log's lock (no append meanwhile) moves what is left of the file and its
   checkpoint sidecar aside, unchanged, as ``<log>.broken-<UTC time>`` (evidence, never
   deleted by the engine);
3. writes the new file whose first line (``seq`` 1, ``prev`` 64 zeros, a chain like any
   other) is the record of the break::

       {"action":"audit_resealed","log":"recordings-access","by":"olga (root)",
        "reason":"disk replaced; incident 2026-114","breaks":[{"kind":"deleted",...}],
        "anchored_lines":37,"anchored_head":"9f2c...","last_checkpoint":{...},
        "kept":".../recordings-access.jsonl.broken-20261207T001500Z","kept_sha256":"...",
        "kept_lines":0,"node":"host1","seq":1,"at":"...","prev":"000..."}

4. moves the anchor in Redis to that line (only if it is still what was verified: a Lua
   compare-and-set), drops the pending mark and the old chain's checkpoint, and counts the
   reseal (``reseals`` in the anchor);
5. signs a checkpoint of the new chain (with ``IVR_AUDIT_KEY``), and records the reseal in
   the console's audit log too (when that is another log, and sound) and in the journal.

Afterwards ``ivr audit verify`` passes and says, on the log's line, that its chain was
re-sealed, when, by whom, why and what was lost: the break stays on record.
"""

from __future__ import annotations

import fcntl
import getpass
import hashlib
import logging
import os
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ivr.audit.anchor import GENESIS
from ivr.audit.chain import encode, iso, line_hash
from ivr.audit.checkpoint import Checkpoint, sidecar
from ivr.audit.errors import AuditError
from ivr.audit.verify import RESEALED, Kind, LogReport, verify_log

log = logging.getLogger("ivr.audit")

_RESEAL = """
local lines = redis.call('HGET', KEYS[1], 'lines') or '0'
local head = redis.call('HGET', KEYS[1], 'head') or ARGV[4]
if lines ~= ARGV[1] or head ~= ARGV[2] then return 0 end
redis.call('HSET', KEYS[1], 'lines', '1', 'head', ARGV[3])
redis.call('HDEL', KEYS[1], 'pending', 'checkpoint')
redis.call('HINCRBY', KEYS[1], 'reseals', 1)
return 1
"""


class NothingToReseal(AuditError):
    """The log verifies: it is not started again."""


@dataclass(frozen=True)
class Resealed:
    log: str
    path: Path
    entry: dict[str, Any]
    kept: Path | None
    checkpoint: Checkpoint | None


def operator_name() -> str:
    """Who runs the command: the login name, and the account sudo was run from."""
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = str(os.getuid())
    via = os.environ.get("SUDO_USER")
    return f"{via} ({user})" if via and via != user else user


def reseal(logs: Any, name: str, *, reason: str, by: str | None = None) -> Resealed:
    """Start log ``name`` (of an :class:`~ivr.audit.logs.AuditLogs`) again with the record of
    its break as line 1.  Raises NothingToReseal, AuditError (no reason, the anchor moved),
    OSError, RedisError."""
    reason = " ".join(reason.split())
    if not reason:
        raise AuditError("say why (--reason): the reason is the first thing the new chain records", log=name)
    path: Path = logs.paths[name]
    anchor = logs.anchor(name)
    by = by or operator_name()
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    # The lock of an existing file is the engine's append lock; a missing one cannot be
    # appended to while its anchor has lines (chain.py), so there is nothing to hold.
    old_fd = _open_existing(path)
    try:
        if old_fd is not None:
            fcntl.flock(old_fd, fcntl.LOCK_EX)
        state = anchor.read()
        report = verify_log(log=name, path=path, anchor=state, verifier=logs.verifier)
        breaks = [b for b in report.breaks if b.kind != Kind.NO_ANCHOR]
        if not breaks:
            raise NothingToReseal("the log verifies: nothing to reseal" + (
                " (its anchor is made again at the next append)" if report.breaks else ""), log=name)
        stamp = datetime.fromtimestamp(logs.clock(), UTC).strftime("%Y%m%dT%H%M%SZ")
        kept_sha256, kept_lines = _kept_facts(path, report)
        moved = _move_aside(path, stamp)
        created = False
        try:
            kept_log = next((k for o, k in moved if o == path), None)
            entry = {
                "action": RESEALED, "log": name, "node": logs.node, "by": by, "reason": reason,
                "breaks": [{"kind": str(b.kind), "line": b.line, "what": b.what} for b in breaks],
                "anchored_lines": state.lines if state.known else None,
                "anchored_head": state.head if state.known else None,
                "last_checkpoint": _last_checkpoint(state.checkpoint),
                "kept": str(kept_log) if kept_log is not None else None,
                "kept_sha256": kept_sha256, "kept_lines": kept_lines,
                "seq": 1, "at": iso(logs.clock()), "prev": GENESIS,
            }
            line = encode(entry)
            _write_first_line(path, line)
            created = True
            script = logs.redis.register_script(_RESEAL)
            if not script(keys=[anchor.key], args=[str(state.lines), state.head, line_hash(line), GENESIS]):
                raise AuditError("the log's anchor moved while resealing (another reseal?); nothing changed",
                                 log=name)
        except BaseException:
            _undo(path if created else None, moved)
            raise
    finally:
        if old_fd is not None:
            os.close(old_fd)
    log.warning("audit log %s re-sealed by %s: %s; the new chain's line 1 records the break (%s)%s",
                name, by, reason, ", ".join(str(b.kind) for b in breaks),
                "".join(f"; {original.name} kept as {kept}" for original, kept in moved))
    checkpoint = logs.checkpoint(name, force=True) if logs.signer is not None else None
    _also_in_console_log(logs, name, entry)
    return Resealed(log=name, path=path, entry=entry, kept=kept_log, checkpoint=checkpoint)


def _open_existing(path: Path) -> int | None:
    try:
        return os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except FileNotFoundError:
        return None


def _kept_facts(path: Path, report: LogReport) -> tuple[str | None, int | None]:
    """sha256 and lines of what is left of the file (None, None: nothing is)."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return None, None
    return hashlib.sha256(data).hexdigest(), report.lines


def _last_checkpoint(document: str | None) -> dict[str, Any] | None:
    if not document:
        return None
    try:
        return {**Checkpoint.parse(document).fields(), "sig": Checkpoint.parse(document).sig}
    except (ValueError, KeyError, TypeError):
        return {"garbled": document[:500]}


def _move_aside(path: Path, stamp: str) -> list[tuple[Path, Path]]:
    """The broken file and its sidecar renamed ``*.broken-<stamp>``: (original, kept) pairs."""
    moved: list[tuple[Path, Path]] = []
    for source in (path, sidecar(path)):
        target, n = source.with_name(f"{source.name}.broken-{stamp}"), 1
        while target.exists():  # never over an earlier incident's evidence
            n += 1
            target = source.with_name(f"{source.name}.broken-{stamp}-{n}")
        try:
            os.rename(source, target)
        except FileNotFoundError:
            continue
        moved.append((source, target))
    return moved


def _write_first_line(path: Path, line: bytes) -> None:
    """The new file, 0600, owned (when run as root) by the owner of the logs' directory: the
    engine's user, which must go on appending to it."""
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
    try:
        if os.geteuid() == 0:
            owner = path.parent.stat()
            os.fchown(fd, owner.st_uid, owner.st_gid)
        fcntl.flock(fd, fcntl.LOCK_EX)
        os.write(fd, line + b"\n")
        os.fsync(fd)
    finally:
        os.close(fd)


def _undo(created: Path | None, moved: list[tuple[Path, Path]]) -> None:
    """Put things back as they were: the new file (only if this reseal made it) removed, what
    was moved aside moved back."""
    if created is not None:
        created.unlink(missing_ok=True)
    for original, kept in moved:
        os.rename(kept, original)


def _also_in_console_log(logs: Any, name: str, entry: dict[str, Any]) -> None:
    """The reseal of another log is also a line of the console's audit (a second witness)."""
    from ivr.audit.logs import CONSOLE_ACCESS

    if name == CONSOLE_ACCESS or CONSOLE_ACCESS not in logs.paths:
        return
    try:
        logs.get(CONSOLE_ACCESS).append(
            actor=entry["by"], role="security", action=RESEALED, outcome="done", call="",
            detail=f"log {name}: {', '.join(b['kind'] for b in entry['breaks'])}; reason: {entry['reason']}")
    except (OSError, AuditError) as exc:
        log.error("the reseal of %s could not be recorded in %s too (%s)", name, CONSOLE_ACCESS, exc)
