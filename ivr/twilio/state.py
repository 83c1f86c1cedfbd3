"""A call's state between Twilio webhooks, in Redis, keyed by CallSid.

Keys (one template set, hash-tagged so the code runs unchanged on Redis Cluster)::

    {ivr}:twilio:call:<CallSid>      hash: step, menu, state (CallState JSON), twiml
    {ivr}:twilio:lock:<CallSid>      string: the token of the request working on the call
    {ivr}:twilio:ended:<CallSid>     string: the call ended; a late retry must not restart it
    {ivr}:twilio:callback:<id>       string: JSON of a callback placed through the REST API

Idempotency: every TwiML response carries ``step=<n>`` in the URLs it points
back to, and the hash keeps ``n`` and the XML of that response.  A webhook
whose step is not the current one is a retry or arrived out of order: it gets
the stored XML and changes nothing.  The state moves from step ``n`` to
``n+1`` only by :meth:`CallStore.advance`, a Lua compare-and-set, so two
concurrent retries cannot both apply; the per-call lock keeps them from both
running the engine's services (enqueue, book a callback) in the first place.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from redis import Redis

from ivr.flow.engine import CallState
from ivr.lease import Leases

_ADVANCE = """
local current = redis.call('HGET', KEYS[1], 'step')
if current == false then current = '0' end
if current ~= ARGV[1] then return 0 end
redis.call('HSET', KEYS[1], 'step', ARGV[2], 'menu', ARGV[3], 'state', ARGV[4], 'twiml', ARGV[5])
redis.call('EXPIRE', KEYS[1], ARGV[6])
return 1
"""

_END = """
redis.call('DEL', KEYS[1])
redis.call('SET', KEYS[2], '1', 'EX', ARGV[1])
return 1
"""

@dataclass(frozen=True)
class StoredCall:
    step: int
    menu: str
    state: CallState
    twiml: str  # the response issued at ``step``; a retry gets it again


@dataclass(frozen=True)
class CallbackRecord:
    callback_id: str
    number: str
    endpoint: str
    language: str = "ru"
    record: bool = False
    appeal: str | None = None


class CallStore:
    def __init__(
        self,
        redis: Redis,
        *,
        prefix: str = "ivr",
        ttl: int = 4 * 3600,
        lock_seconds: float = 15.0,
        lock_wait: float = 5.0,
    ) -> None:
        self.redis = redis
        self.prefix = prefix
        self.ttl = ttl
        self.lock_seconds = lock_seconds
        self.lock_wait = lock_wait
        self._advance = redis.register_script(_ADVANCE)
        self._end = redis.register_script(_END)
        self._leases = Leases(redis)

    # -- key templates ------------------------------------------------------------------

    def call_key(self, call_sid: str) -> str:
        return f"{{{self.prefix}}}:twilio:call:{call_sid}"

    def lock_key(self, call_sid: str) -> str:
        return f"{{{self.prefix}}}:twilio:lock:{call_sid}"

    def ended_key(self, call_sid: str) -> str:
        return f"{{{self.prefix}}}:twilio:ended:{call_sid}"

    def callback_key(self, callback_id: str) -> str:
        return f"{{{self.prefix}}}:twilio:callback:{callback_id}"

    # -- calls ------------------------------------------------------------------------------

    def load(self, call_sid: str) -> StoredCall | None:
        return _stored(self.redis.hgetall(self.call_key(call_sid)))  # type: ignore[arg-type]

    def advance(self, call_sid: str, *, expected_step: int, new: StoredCall) -> bool:
        """Store ``new`` if the call is still at ``expected_step`` (0: not stored yet)."""
        state = json.dumps(new.state.to_dict(), ensure_ascii=False, separators=(",", ":"))
        done = self._advance(
            keys=[self.call_key(call_sid)],
            args=[str(expected_step), str(new.step), new.menu, state, new.twiml, self.ttl],
        )
        return bool(done)

    def end(self, call_sid: str) -> None:
        """Forget the call; remember for a while that it ended."""
        self._end(keys=[self.call_key(call_sid), self.ended_key(call_sid)], args=[self.ttl])

    def has_ended(self, call_sid: str) -> bool:
        return bool(self.redis.exists(self.ended_key(call_sid)))

    @contextmanager
    def held(self, call_sid: str) -> Iterator[tuple[bool, StoredCall | None]]:
        """Hold the call for one request, and its state as read once held.  Yields False
        (and the state as it is) when another request kept it too long.  When nobody holds
        it, taking the hold and reading the state are one round trip to Redis."""
        key = self.lock_key(call_sid)
        pipeline = self.redis.pipeline(transaction=False)
        token: str | None = Leases.take_in(pipeline, key, self.lock_seconds)
        pipeline.hgetall(self.call_key(call_sid))
        taken, raw = pipeline.execute()
        if not taken:
            token = None
            deadline = time.monotonic() + self.lock_wait
            while token is None and time.monotonic() < deadline:
                time.sleep(0.02)
                token = self._leases.take(key, self.lock_seconds)
            raw = self.redis.hgetall(self.call_key(call_sid))  # as the last holder left it
        try:
            yield token is not None, _stored(raw)
        finally:
            if token is not None:
                self._leases.release(key, token)

    # -- callbacks ----------------------------------------------------------------------------

    def save_callback(self, record: CallbackRecord) -> None:
        data: dict[str, Any] = {
            "callback_id": record.callback_id,
            "number": record.number,
            "endpoint": record.endpoint,
            "language": record.language,
            "record": record.record,
            "appeal": record.appeal,
        }
        self.redis.set(self.callback_key(record.callback_id), json.dumps(data), ex=self.ttl)

    def load_callback(self, callback_id: str) -> CallbackRecord | None:
        raw = self.redis.get(self.callback_key(callback_id))
        if raw is None:
            return None
        return CallbackRecord(**json.loads(raw))


def _stored(raw: dict[bytes, bytes]) -> StoredCall | None:
    if not raw or b"state" not in raw:
        return None
    return StoredCall(
        step=int(raw[b"step"]),
        menu=raw[b"menu"].decode(),
        state=CallState.from_dict(json.loads(raw[b"state"])),
        twiml=raw[b"twiml"].decode(),
    )
