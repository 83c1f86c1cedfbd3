"""What broke in a log: the chain, the file against its anchor, the file against its signed checkpoints.

Kinds of break (:class:`Kind`), each with the line where it shows:

* ``edited``   a line changed, removed, inserted or added outside the engine: the first
  line that does not follow from the one before it (or the anchored or signed line that
  is not the one in the file);
* ``cut tail`` the file ends before the line its anchor or a signed checkpoint names;
* ``emptied``  the file is there and empty, but its anchor or a checkpoint says it had lines;
* ``deleted``  the file is gone, but its anchor or a checkpoint says it had lines;
* ``checkpoint mismatch`` a checkpoint with a bad signature or another key, a sidecar that
  lost the latest checkpoint Redis holds, an anchor rewound behind a signed checkpoint;
* ``anchor missing`` a log with lines and no anchor (Redis lost it and no append re-anchored
  it yet).

An interrupted append (see :mod:`ivr.audit.anchor`) is not a break: it is told as a note.
So is a chain started again by ``ivr audit reseal`` (:mod:`ivr.audit.reseal`): its first
line records the break it followed, and every verification says so.
"""

from __future__ import annotations

import fcntl
import json
import os
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

from ivr.audit.anchor import GENESIS, Head
from ivr.audit.chain import line_hash
from ivr.audit.checkpoint import Checkpoint, Verifier, read_checkpoints
from ivr.audit.errors import LogBroken

# The action of the first line of a chain ``ivr audit reseal`` started again.
RESEALED = "audit_resealed"


class Kind(StrEnum):
    EDITED = "edited"
    CUT_TAIL = "cut tail"
    EMPTIED = "emptied"
    DELETED = "deleted"
    CHECKPOINT = "checkpoint mismatch"
    NO_ANCHOR = "anchor missing"


@dataclass(frozen=True)
class Break:
    kind: Kind
    line: int
    what: str


@dataclass(frozen=True)
class ChainScan:
    lines: int
    head: str
    broken: Break | None
    # sha256 of the lines asked for (by number)
    hashes: Mapping[int, str] = field(default_factory=dict)
    # the last line read has no newline: a write cut short (or an edit)
    torn: bool = False
    # the first line's entry (a reseal record, see :func:`resealed_note`)
    first: Mapping[str, Any] | None = None


@dataclass(frozen=True)
class LogReport:
    log: str
    path: Path
    lines: int
    anchored: int | None
    checkpoint: int | None
    breaks: tuple[Break, ...] = ()
    notes: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        return not self.breaks


def check_chain(path: str | os.PathLike[str], want: Iterable[int] = (), *, limit: int | None = None) -> ChainScan:
    """Every line's ``prev`` and ``seq`` (of the first ``limit`` bytes: a snapshot taken while
    appends waited, see :func:`snapshot`); the hashes of the lines in ``want``."""
    wanted = set(want)
    read = 0
    hashes: dict[int, str] = {}
    prev, n = GENESIS, 0
    first: dict[str, Any] | None = None
    try:
        f = open(path, "rb")  # noqa: SIM115
    except FileNotFoundError:
        return ChainScan(0, GENESIS, None)
    with f:
        for number, raw in enumerate(f, 1):
            if limit is not None and read >= limit:
                break
            n, read = number, read + len(raw)
            line = raw.rstrip(b"\n")
            try:
                entry = json.loads(line)
            except ValueError:
                return ChainScan(n, prev, Break(Kind.EDITED, n, f"line {n} is not a JSON entry"), hashes,
                                 torn=not raw.endswith(b"\n"))
            if not isinstance(entry, dict) or entry.get("prev") != prev:
                return ChainScan(n, prev, Break(
                    Kind.EDITED, max(1, n - 1) if n > 1 else 1,
                    f"line {n} does not follow line {n - 1}: line {n - 1} was altered, or lines were "
                    f"removed or inserted before line {n}" if n > 1 else "line 1 is not a first line"), hashes)
            if entry.get("seq") != n:
                return ChainScan(n, prev, Break(Kind.EDITED, n, f"line {n} has sequence number {entry.get('seq')}"),
                                 hashes)
            prev = line_hash(line)
            if n == 1:
                first = entry
            if n in wanted:
                hashes[n] = prev
    return ChainScan(n, prev, None, hashes, first=first)


def verify_chain(path: str | os.PathLike[str]) -> int:
    """The file's chain alone (no anchor): its number of lines; raises LogBroken."""
    scan = check_chain(path)
    if scan.broken is not None:
        raise LogBroken(scan.broken.what, line=scan.broken.line, kind=str(scan.broken.kind))
    return scan.lines


@dataclass(frozen=True)
class Snapshot:
    """A log's anchor, checkpoints and size read together, while no append could run."""

    anchor: Head | None
    listed: list[Checkpoint | None] | None
    size: int | None


def snapshot(path: Path, read_anchor: Callable[[], Head] | None) -> Snapshot:
    """Appends hold an exclusive ``flock`` from reading the anchor to moving it, and checkpoints
    from reading it to saving theirs; under a shared one the three agree.  The file's first
    ``size`` bytes never change after (appends only append), so the chain is read unlocked."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except FileNotFoundError:
        return Snapshot(read_anchor() if read_anchor else None, read_checkpoints(path), None)
    try:
        fcntl.flock(fd, fcntl.LOCK_SH)
        return Snapshot(read_anchor() if read_anchor else None, read_checkpoints(path), os.fstat(fd).st_size)
    finally:
        os.close(fd)


def verify_log(*, log: str, path: Path, anchor: Head | None, verifier: Verifier | None,
               taken: Snapshot | None = None) -> LogReport:
    """Check one log against its anchor (None: not anchored, e.g. no Redis) and checkpoints;
    ``taken``: read together by :func:`snapshot` (else read now, for a caller holding the lock)."""
    if taken is not None:
        anchor = taken.anchor
    listed = taken.listed if taken is not None else read_checkpoints(path)
    limit = taken.size if taken is not None else None
    checkpoints = [c for c in listed or [] if c is not None]
    latest_redis, garbled = None, False
    if anchor is not None and anchor.checkpoint:
        try:
            latest_redis = Checkpoint.parse(anchor.checkpoint)
        except (ValueError, KeyError, TypeError):
            garbled = True
    want = {c.lines for c in checkpoints}
    if anchor is not None:
        want |= {anchor.lines, anchor.lines + 1}
    exists = path.exists() if taken is None else taken.size is not None
    scan = check_chain(path, want, limit=limit)
    breaks: list[Break] = []
    notes: list[str] = []
    said = max([anchor.lines if anchor is not None else 0, *(c.lines for c in checkpoints),
                latest_redis.lines if latest_redis else 0])
    report = {"log": log, "path": path, "lines": scan.lines, "anchored": anchor.lines if anchor and anchor.known else None,
              "checkpoint": checkpoints[-1].lines if checkpoints else None}
    if not exists and said > 0:
        breaks.append(Break(Kind.DELETED, 0, f"the file {path} is gone; it had {said} line(s)"))
        return LogReport(**report, breaks=tuple(breaks))  # type: ignore[arg-type]
    if exists and scan.lines == 0 and said > 0:
        breaks.append(Break(Kind.EMPTIED, 0, f"the file is empty; it had {said} line(s)"))
        return LogReport(**report, breaks=tuple(breaks))  # type: ignore[arg-type]
    if scan.first is not None and scan.first.get("action") == RESEALED:
        notes.append(resealed_note(scan.first))
    if _torn_pending(anchor, scan):
        notes.append(f"line {scan.lines} is an unfinished line an interrupted append left (removed at the "
                     "next append)")
        scan = ChainScan(scan.lines - 1, scan.head, None, scan.hashes)
    elif scan.broken is not None:
        breaks.append(scan.broken)
    if anchor is not None:
        breaks += _against_anchor(anchor, scan, notes)
    if garbled:
        breaks.append(Break(Kind.CHECKPOINT, 0, "the latest checkpoint kept in Redis is not a checkpoint"))
    breaks += _against_checkpoints(listed, checkpoints, latest_redis, anchor, scan, verifier, notes)
    return LogReport(**report, breaks=tuple(_first_per_kind(breaks)), notes=tuple(notes))  # type: ignore[arg-type]


def resealed_note(first: Mapping[str, Any]) -> str:
    """What a reseal record says, in one sentence."""
    kinds = ", ".join(str(b.get("kind")) for b in first.get("breaks") or [] if isinstance(b, dict)) or "a break"
    anchored = first.get("anchored_lines")
    head = str(first.get("anchored_head") or "")[:16]
    lost = (f"its anchor said {anchored} line(s), head {head}…" if anchored is not None
            else "it had no anchor")
    kept = f"; what was left is kept at {first['kept']}" if first.get("kept") else "; nothing of it was left"
    return (f"line 1: chain re-sealed at {first.get('at')} by {first.get('by')} after {kinds} "
            f"({lost}){kept}; reason: {first.get('reason')}")


def _torn_pending(anchor: Head | None, scan: ChainScan) -> bool:
    return (anchor is not None and anchor.pending is not None and scan.torn and scan.broken is not None
            and scan.broken.line == scan.lines == anchor.lines + 1)


def _against_anchor(anchor: Head, scan: ChainScan, notes: list[str]) -> list[Break]:
    if not anchor.known:
        if scan.lines > 0:
            return [Break(Kind.NO_ANCHOR, scan.lines, f"{scan.lines} line(s) and no anchor in Redis (Redis lost "
                          "it, or the log predates anchoring; the next append anchors it after checking it)")]
        return []
    if scan.broken is not None and scan.broken.line <= anchor.lines:
        return []  # the chain already says where
    if scan.lines < anchor.lines:
        return [Break(Kind.CUT_TAIL, scan.lines + 1, f"the file ends at line {scan.lines}; "
                      f"its anchor says {anchor.lines} line(s): lines {scan.lines + 1}-{anchor.lines} were cut")]
    if anchor.lines and scan.hashes.get(anchor.lines) != anchor.head:
        return [Break(Kind.EDITED, anchor.lines, f"line {anchor.lines} is not the line anchored as the log's head")]
    extra = scan.lines - anchor.lines
    if extra == 0:
        return []
    pending = anchor.pending
    if extra == 1 and pending == (anchor.lines + 1, scan.hashes.get(anchor.lines + 1)):
        notes.append(f"line {scan.lines} was written by an append interrupted before its anchor moved "
                     "(anchored at the next append)")
        return []
    return [Break(Kind.EDITED, anchor.lines + 1, f"lines {anchor.lines + 1}-{scan.lines} were added after the "
                  "anchored head, not by the engine")]


def _against_checkpoints(listed: list[Checkpoint | None] | None, checkpoints: list[Checkpoint],
                         latest_redis: Checkpoint | None, anchor: Head | None, scan: ChainScan,
                         verifier: Verifier | None, notes: list[str]) -> list[Break]:
    out: list[Break] = []
    if listed is not None and len(checkpoints) != len(listed):
        out.append(Break(Kind.CHECKPOINT, 0, "the checkpoint file has a line that is not a checkpoint"))
    if latest_redis is not None and (not checkpoints or checkpoints[-1] != latest_redis):
        where = "is gone" if listed is None else "does not end with it"
        out.append(Break(Kind.CHECKPOINT, latest_redis.lines,
                         f"the latest checkpoint (line {latest_redis.lines}, {latest_redis.at}) is in Redis but the "
                         f"checkpoint file {where}"))
    if verifier is None and checkpoints:
        notes.append("checkpoint signatures not checked: no IVR_AUDIT_KEY or IVR_AUDIT_PUBLIC_KEY")
    before = 0
    for c in [*checkpoints, *([latest_redis] if latest_redis is not None else [])]:
        if verifier is not None and not verifier.valid(c):
            out.append(Break(Kind.CHECKPOINT, c.lines, f"the checkpoint of line {c.lines} ({c.at}) "
                             "is not signed by this installation's audit key"))
            continue
        if c.lines < before:
            out.append(Break(Kind.CHECKPOINT, c.lines, f"the checkpoint of line {c.lines} goes back"))
        before = c.lines
        if c.lines > scan.lines:
            out.append(Break(Kind.CUT_TAIL, scan.lines + 1, f"the file ends at line {scan.lines}; a checkpoint "
                             f"signed at {c.at} says {c.lines} line(s)"))
        elif c.lines and scan.broken is None and scan.hashes.get(c.lines) != c.head:
            out.append(Break(Kind.CHECKPOINT, c.lines, f"line {c.lines} is not the line signed at {c.at}"))
        if anchor is not None and anchor.known and anchor.lines < c.lines:
            out.append(Break(Kind.CHECKPOINT, c.lines, f"the anchor in Redis ({anchor.lines} line(s)) is behind "
                             f"the checkpoint signed at {c.at} ({c.lines}): it was rewound"))
    return out


def _first_per_kind(breaks: list[Break]) -> list[Break]:
    seen: set[Kind] = set()
    out = []
    for b in breaks:
        if b.kind not in seen:
            seen.add(b.kind)
            out.append(b)
    return out
