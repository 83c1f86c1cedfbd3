"""Append-only, hash-chained JSON-lines logs, anchored in Redis: the one mechanism of every audit log.

Each line is one JSON object (keys sorted, UTF-8, no spaces) with:

* ``seq``  - 1, 2, 3, ... in file order
* ``at``   - ISO-8601 UTC time from the injected clock
* ``prev`` - sha256 (hex) of the previous line's bytes (without its newline);
  64 zeros for the first line
* the entry's own fields (``actor``, ``role``, ``action``... for an access audit;
  ``recording``, ``sha256``, ``why``... for deletions)

Editing, inserting, reordering or deleting any line breaks the chain at the line after
it.  The last line, a cut tail, an emptied or deleted file are caught by the anchor
(:mod:`ivr.audit.anchor`: the head hash and line count in Redis, moved with each append)
and by the signed checkpoints (:mod:`ivr.audit.checkpoint`).  :mod:`ivr.audit.verify` says
what broke.

Writing: the file is opened ``O_WRONLY|O_APPEND`` (created, mode 0600, only while the
anchor says the log is empty: a deleted log is not silently started again); each append
takes an exclusive ``flock`` (several engine processes on a host share one log), checks
the file's last line against the anchor, marks the new line pending in Redis, writes it
with a single ``write``, fsyncs, and moves the anchor.  An append that cannot do all of
that raises :class:`~ivr.audit.errors.AuditNotWritten` (an ``OSError``): callers treat
"could not audit" as "may not proceed".  A log that no longer matches its anchor raises
:class:`~ivr.audit.errors.AnchorMismatch` at every append until it is restored.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import logging
import os
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from redis.exceptions import RedisError

from ivr.audit.anchor import GENESIS, Anchor, Head
from ivr.audit.errors import AnchorMismatch, AuditNotWritten

Clock = Callable[[], float]
log = logging.getLogger("ivr.audit")


def iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def line_hash(line: bytes) -> str:
    return hashlib.sha256(line).hexdigest()


def encode(entry: dict[str, Any]) -> bytes:
    return json.dumps(entry, sort_keys=True, ensure_ascii=False, separators=(",", ":")).encode()


def last_line(fd: int) -> bytes | None:
    """The last line of an open file (without its newline), None for an empty file."""
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


def _tail_of(line: bytes | None) -> tuple[int, str]:
    """(seq, hash) of a last line; (0, GENESIS) for none.  A line that is not one of ours: seq -1."""
    if line is None:
        return 0, GENESIS
    try:
        seq = int(json.loads(line)["seq"])
    except (ValueError, KeyError, TypeError):
        seq = -1
    return seq, line_hash(line)


class ChainedLog:
    """One hash-chained JSON-lines file; anchored when given an :class:`Anchor`."""

    def __init__(self, path: str | os.PathLike[str], *, clock: Clock, anchor: Anchor | None = None,
                 name: str | None = None) -> None:
        self.path = Path(path)
        self.clock = clock
        self.anchor = anchor
        self.name = name or (anchor.log if anchor is not None else self.path.stem)

    # -- writing --------------------------------------------------------------------------

    def append(self, **fields: Any) -> dict[str, Any]:
        """Append one entry; returns it as written (with seq, at, prev)."""
        try:
            fd = self._open()
        except OSError as exc:
            if isinstance(exc, AuditNotWritten):
                raise
            raise AuditNotWritten(f"cannot open the log: {exc.strerror or exc}", log=self.name) from exc
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            rfd = os.open(self.path, os.O_RDONLY | os.O_CLOEXEC)
            try:
                if self.anchor is not None:
                    try:
                        self._settled(rfd)
                    except RedisError as exc:
                        raise AuditNotWritten("the anchor in Redis cannot be read", log=self.name) from exc
                seq, prev = _tail_of(last_line(rfd))
            finally:
                os.close(rfd)
            entry = {**fields, "seq": seq + 1, "at": iso(self.clock()), "prev": prev}
            line = encode(entry)
            if self.anchor is None:
                self._write(fd, line)
                return entry
            try:
                self._append_anchored(fd, line, seq, prev)
            except RedisError as exc:
                raise AuditNotWritten(f"the anchor in Redis could not be updated ({type(exc).__name__})",
                                      log=self.name) from exc
            return entry
        finally:
            os.close(fd)  # releases the flock

    def _open(self) -> int:
        flags = os.O_WRONLY | os.O_APPEND | os.O_CLOEXEC
        try:
            return os.open(self.path, flags)
        except FileNotFoundError:
            if self.anchor is not None:
                try:
                    state = self.anchor.read()
                except RedisError as exc:
                    raise AuditNotWritten("the anchor in Redis cannot be read", log=self.name) from exc
                if state.lines > 0:
                    log.error("audit log %s (%s) is missing; its anchor says %d line(s): nothing is "
                              "appended until it is restored (ivr audit verify)", self.name, self.path, state.lines)
                    raise AnchorMismatch(f"the log file is missing; its anchor says {state.lines} line(s)",
                                         log=self.name, kind="deleted") from None
            self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            return os.open(self.path, flags | os.O_CREAT, 0o600)

    def _write(self, fd: int, line: bytes) -> None:
        os.write(fd, line + b"\n")
        os.fsync(fd)

    def _append_anchored(self, fd: int, line: bytes, seq: int, prev: str) -> None:
        assert self.anchor is not None
        state = self.anchor.read()
        if (state.lines, state.head) != (seq, prev):
            kind = "cut tail" if seq < state.lines else "edited"
            if seq == 0 and state.lines > 0:
                kind = "emptied"
            log.error("audit log %s (%s) ends at line %d but its anchor says %d line(s) (%s): nothing is "
                      "appended until it is restored (ivr audit verify)", self.name, self.path, seq,
                      state.lines, kind)
            raise AnchorMismatch(f"the log ends at line {seq}; its anchor says {state.lines} line(s)",
                                 log=self.name, kind=kind, lines=seq, anchored=state.lines)
        digest = line_hash(line)
        if not self.anchor.begin(seq, prev, line_hash=digest):
            raise AnchorMismatch("the anchor moved while appending", log=self.name, kind="conflict")
        self._write(fd, line)
        if not self.anchor.commit(seq, prev, line_hash=digest):
            raise AnchorMismatch("the anchor moved while appending", log=self.name, kind="conflict")

    def _settled(self, fd: int) -> None:
        """Under the log's exclusive lock, before an append: resolve what an interrupted append
        left (see anchor.py), and anchor a log that had none (only if its chain holds)."""
        assert self.anchor is not None
        state = self.anchor.read()
        seq, head = _tail_of(last_line(fd))
        if state.pending is not None:
            number, digest = state.pending
            if (seq, head) == (number, digest) and state.lines == number - 1:
                self.anchor.commit(state.lines, state.head, line_hash=digest)  # written, not anchored
                log.warning("audit log %s: line %d was written by an append interrupted before its "
                            "anchor moved; anchored now", self.name, number)
            elif (seq, head) == (state.lines, state.head):
                self.anchor.clear_pending()  # the interrupted append never wrote its line
            elif self._drop_torn_line(fd, state):
                self.anchor.clear_pending()
            return
        if not state.known and seq > 0:
            from ivr.audit.verify import verify_log  # the whole chain and its checkpoints, once

            sound = verify_log(log=self.name, path=self.path, anchor=None, verifier=None).ok
            if sound and self.anchor.adopt(seq, head):
                log.warning("audit log %s had no anchor (older than anchoring, or Redis lost it): "
                            "anchored at its line %d after checking its chain", self.name, seq)

    def _drop_torn_line(self, fd: int, state: Head) -> bool:
        """A crash part way through writing the pending line (power lost before the fsync) leaves
        a fragment without its newline after the anchored head: cut exactly that fragment.
        Only then: the bytes before it must end with the anchored line, and no complete line
        (which would not be the engine's) is ever removed."""
        size = os.fstat(fd).st_size
        tail = os.pread(fd, min(size, 1 << 16), max(0, size - (1 << 16)))
        if not tail or tail.endswith(b"\n"):
            return False
        cut = size - len(tail) + tail.rfind(b"\n") + 1 if b"\n" in tail else (0 if size == len(tail) else -1)
        if cut < 0:
            return False
        before = os.pread(fd, min(cut, 1 << 16), cut - min(cut, 1 << 16)) if cut else b""
        if _tail_of(before.rstrip(b"\n").rsplit(b"\n", 1)[-1] if before else None) != (state.lines, state.head):
            return False
        os.truncate(self.path, cut)
        log.warning("audit log %s: an append interrupted while writing left %d byte(s) of an unfinished "
                    "line after line %d (anchored); removed", self.name, size - cut, state.lines)
        return True

    def settle(self) -> None:
        """What an append does first, done now (engine start): finish an interrupted append,
        anchor a log that has none (if its chain and checkpoints hold).  Never creates the file."""
        if self.anchor is None:
            return
        try:
            fd = os.open(self.path, os.O_RDONLY | os.O_CLOEXEC)
        except FileNotFoundError:
            return
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            self._settled(fd)
        finally:
            os.close(fd)

    # -- reading --------------------------------------------------------------------------

    def head(self) -> str:
        """sha256 of the last line (the chain head), or 64 zeros for an empty log."""
        try:
            fd = os.open(self.path, os.O_RDONLY | os.O_CLOEXEC)
        except FileNotFoundError:
            return GENESIS
        try:
            return _tail_of(last_line(fd))[1]
        finally:
            os.close(fd)

    def entries(self) -> Iterator[dict[str, Any]]:
        """Every entry in order (not verified; see :mod:`ivr.audit.verify`)."""
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
