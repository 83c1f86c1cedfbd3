"""Each log's head kept in Redis, outside the file: what makes a cut tail or an emptied file visible.

One hash per log (hash-tagged, so one Redis Cluster slot holds them all)::

    {P}:audit:<node>:<log>   lines       the number of lines the log has
                             head        sha256 of its last line (64 zeros: none)
                             pending     "<n>:<sha256>" of the line being appended now
                             checkpoint  the latest signed checkpoint (JSON), see checkpoint.py

``node`` is the host writing the log (each engine host keeps its own files).

The crash window.  An append is: ``begin`` (Redis: ``pending`` = the new line's number and
hash, only if the anchor is still what the writer read), then the line is written and
fsynced, then ``commit`` (Redis: ``lines``/``head`` move to the new line and ``pending`` goes,
only if they still name the line before it).  Both steps are Lua scripts, so each is atomic.
A crash between the write and ``commit`` leaves exactly the pending line in the file beyond
the anchor; a crash before the write leaves ``pending`` and no line.  Both are told apart by
the line's hash, resolved by the next append (:meth:`ivr.audit.chain.ChainedLog.append`) and
accepted by ``ivr audit verify``.  Any other difference between file and anchor is a break.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

GENESIS = "0" * 64

_BEGIN = """
local lines = redis.call('HGET', KEYS[1], 'lines') or '0'
local head = redis.call('HGET', KEYS[1], 'head') or ARGV[3]
if lines ~= ARGV[1] or head ~= ARGV[2] then return 0 end
redis.call('HSET', KEYS[1], 'pending', ARGV[4])
return 1
"""

_COMMIT = """
local lines = redis.call('HGET', KEYS[1], 'lines') or '0'
local head = redis.call('HGET', KEYS[1], 'head') or ARGV[4]
if lines ~= ARGV[1] or head ~= ARGV[2] then return 0 end
redis.call('HSET', KEYS[1], 'lines', tostring(tonumber(ARGV[1]) + 1), 'head', ARGV[3])
redis.call('HDEL', KEYS[1], 'pending')
return 1
"""

_ADOPT = """
if redis.call('HEXISTS', KEYS[1], 'lines') == 1 then return 0 end
redis.call('HSET', KEYS[1], 'lines', ARGV[1], 'head', ARGV[2])
return 1
"""


@dataclass(frozen=True)
class Head:
    """What the anchor says of a log.  ``known`` is False when Redis has no anchor for it."""

    lines: int
    head: str
    pending: tuple[int, str] | None = None
    checkpoint: str | None = None
    known: bool = True


def _text(value: Any) -> str | None:
    if value is None:
        return None
    return value.decode() if isinstance(value, bytes) else str(value)


class Anchor:
    """The Redis anchor of one log."""

    def __init__(self, *, redis: Any, prefix: str, node: str, log: str) -> None:
        self.redis = redis
        self.log = log
        self.key = f"{{{prefix}}}:audit:{node}:{log}"
        self._begin = redis.register_script(_BEGIN)
        self._commit = redis.register_script(_COMMIT)
        self._adopt = redis.register_script(_ADOPT)

    def read(self) -> Head:
        raw = {_text(k): _text(v) for k, v in self.redis.hgetall(self.key).items()}
        pending = None
        if raw.get("pending"):
            number, _, digest = str(raw["pending"]).partition(":")
            pending = (int(number), digest)
        if raw.get("lines") is None:
            return Head(0, GENESIS, pending, raw.get("checkpoint"), known=False)
        return Head(int(str(raw["lines"])), str(raw.get("head") or GENESIS), pending, raw.get("checkpoint"))

    def begin(self, lines: int, head: str, *, line_hash: str) -> bool:
        """Mark line ``lines + 1`` as being written; False if the anchor is not at (lines, head)."""
        return bool(self._begin(keys=[self.key], args=[str(lines), head, GENESIS, f"{lines + 1}:{line_hash}"]))

    def commit(self, lines: int, head: str, *, line_hash: str) -> bool:
        """Move the anchor from (lines, head) to the line after it; False if it is elsewhere."""
        return bool(self._commit(keys=[self.key], args=[str(lines), head, line_hash, GENESIS]))

    def clear_pending(self) -> None:
        self.redis.hdel(self.key, "pending")

    def adopt(self, lines: int, head: str) -> bool:
        """Anchor a log that had no anchor (a log older than anchoring, or a Redis that lost
        it) at its verified last line; only when there is none."""
        return bool(self._adopt(keys=[self.key], args=[str(lines), head]))

    def save_checkpoint(self, document: str) -> None:
        self.redis.hset(self.key, "checkpoint", document)
