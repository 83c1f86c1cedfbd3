"""Append-only, hash-chained JSON-lines logs: the access audit and the deletion log.

Each line is one JSON object (keys sorted, UTF-8, no spaces) with:

* ``seq``  - 1, 2, 3, ... in file order
* ``at``   - ISO-8601 UTC time from the injected clock
* ``prev`` - sha256 (hex) of the previous line's bytes (without its newline);
  64 zeros for the first line
* the entry's own fields (``actor``, ``role``, ``action``, ``recording``, ``reason``,
  ``outcome``... for the audit; ``recording``, ``sha256``, ``why``... for deletions)

Editing, inserting, reordering or deleting any line but the last breaks the chain and
:func:`verify_chain` says at which line.  The last line is covered only by an
anchor kept elsewhere: :meth:`ChainedLog.head` returns the current head hash; pass a
saved head as ``expected_head`` to detect a truncated tail.

Writing: the file is opened ``O_WRONLY|O_APPEND|O_CREAT`` (mode 0600); each append
takes an exclusive ``flock`` (several engine processes may share one log), reads the
last line to chain onto it, writes the line with a single ``write`` and fsyncs before
returning.  An append that fails raises: callers treat "could not audit" as "may not
proceed" (access is refused when its audit line cannot be written).
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
from collections.abc import Callable, Iterator, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ivr.recordings.errors import AuditChainBroken

GENESIS = "0" * 64
Clock = Callable[[], float]


def iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def _line_hash(line: bytes) -> str:
    return hashlib.sha256(line).hexdigest()


def _last_line(fd: int) -> bytes | None:
    size = os.fstat(fd).st_size
    if size == 0:
        return None
    step = 4096
    pos = size
    tail = b""
    while pos > 0:
        start = max(0, pos - step)
        tail = os.pread(fd, pos - start, start) + tail
        pos = start
        body = tail[:-1] if tail.endswith(b"\n") else tail
        cut = body.rfind(b"\n")
        if cut >= 0:
            return body[cut + 1 :]
    body = tail[:-1] if tail.endswith(b"\n") else tail
    return body


class ChainedLog:
    """One hash-chained JSON-lines file."""

    def __init__(self, path: str | os.PathLike[str], *, clock: Clock) -> None:
        self.path = Path(path)
        self.clock = clock

    def append(self, **fields: Any) -> dict[str, Any]:
        """Append one entry; returns it as written (with seq, at, prev)."""
        self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            rfd = os.open(self.path, os.O_RDONLY | os.O_CLOEXEC)
            try:
                last = _last_line(rfd)
            finally:
                os.close(rfd)
            if last is None:
                seq, prev = 1, GENESIS
            else:
                seq, prev = int(json.loads(last)["seq"]) + 1, _line_hash(last)
            entry = {**fields, "seq": seq, "at": iso(self.clock()), "prev": prev}
            line = json.dumps(entry, sort_keys=True, ensure_ascii=False, separators=(",", ":")).encode()
            os.write(fd, line + b"\n")
            os.fsync(fd)
            return entry
        finally:
            os.close(fd)  # releases the flock

    def head(self) -> str:
        """sha256 of the last line (the chain head), or 64 zeros for an empty log."""
        try:
            fd = os.open(self.path, os.O_RDONLY | os.O_CLOEXEC)
        except FileNotFoundError:
            return GENESIS
        try:
            last = _last_line(fd)
        finally:
            os.close(fd)
        return GENESIS if last is None else _line_hash(last)

    def entries(self) -> Iterator[dict[str, Any]]:
        """Every entry in order (not verified; see :func:`verify_chain`)."""
        try:
            f = open(self.path, "rb")  # noqa: SIM115
        except FileNotFoundError:
            return
        with f:
            for raw in f:
                if raw.strip():
                    yield json.loads(raw)

    def find(self, **match: Any) -> dict[str, Any] | None:
        """The first entry whose fields equal ``match`` (a linear scan; for rare paths)."""
        for entry in self.entries():
            if all(entry.get(k) == v for k, v in match.items()):
                return entry
        return None


def verify_chain(path: str | os.PathLike[str], *, expected_head: str | None = None) -> int:
    """Check every line's ``prev`` and ``seq``; return the number of lines.

    Raises :class:`AuditChainBroken` with the 1-based line number of the first line
    that does not follow from the one before it.
    """
    prev = GENESIS
    n = 0
    try:
        f = open(path, "rb")  # noqa: SIM115
    except FileNotFoundError:
        f = None
    if f is not None:
        with f:
            for n, raw in enumerate(f, 1):
                line = raw.rstrip(b"\n")
                try:
                    entry = json.loads(line)
                except ValueError:
                    raise AuditChainBroken(f"line {n} is not JSON", line=n) from None
                if not isinstance(entry, Mapping) or entry.get("prev") != prev:
                    raise AuditChainBroken(
                        f"line {n} does not follow line {n - 1} (previous line altered or removed)", line=n
                    )
                if entry.get("seq") != n:
                    raise AuditChainBroken(f"line {n} has sequence {entry.get('seq')}", line=n)
                prev = _line_hash(line)
    if expected_head is not None and prev != expected_head:
        raise AuditChainBroken("the log ends before its last anchored line", line=n)
    return n


class AuditLog(ChainedLog):
    """The access audit: who asked for which recording, when, why, and the outcome."""

    def record(
        self,
        *,
        actor: str,
        role: str,
        action: str,
        recording: str,
        reason: str,
        outcome: str,
        detail: str | None = None,
    ) -> dict[str, Any]:
        fields: dict[str, Any] = {
            "actor": actor,
            "role": role,
            "action": action,
            "recording": recording,
            "reason": reason,
            "outcome": outcome,
        }
        if detail is not None:
            fields["detail"] = detail
        return self.append(**fields)


class DeletionLog(ChainedLog):
    """Proof of destruction: one line per recording deleted (id, sha256, when, why)."""

    def deleted(self, *, recording: str, sha256: str | None, why: str, intent: str, **extra: Any) -> dict[str, Any]:
        return self.append(event="deleted", recording=recording, sha256=sha256, why=why, intent=intent, **extra)
