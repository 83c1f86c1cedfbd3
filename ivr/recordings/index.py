"""The Redis index of recordings.

Key layout (``P`` is the configured prefix, default ``ivr``; every key carries the
hash tag ``{P}`` so all of them live in one slot and multi-key scripts run on Redis
Cluster)::

    {P}:rec:<id>          hash   the RecordingMeta fields (meta.py), consent as JSON,
                                 plus purge_intent / purge_why / purge_at while purging
    {P}:rec:by-expiry     zset   id -> expires (epoch s); only stored, unheld recordings
    {P}:rec:by-created    zset   id -> created (epoch s); every indexed recording
    {P}:rec:purging       set    ids whose purge has started and not finished
    {P}:rec:purge-lock    string a token while one engine process runs a purge
    {P}:rec:key-check     hash   master key id -> its fingerprint (keycheck.py)
    {P}:rec:unarchived    zset   id -> since (epoch s): indexed recordings whose container
                                 waits in an engine's outbox for the archive (S3 down)
    {P}:rec:call:<call>   hash   the consent log of one call (consent_log.py), kept as
                                 long as the call's recordings would be
    {P}:rec:pause:<call>  hash   the operator's pauses of the call's recording (pauses.py):
                                 state, claimed, since, by, started, spans; kept until
                                 the recording is ingested (a week at most)
    {P}:rec:claim:<src>   string a lease while one process ingests a source (a spool
                                 file, a Twilio recording, a voice clip)
    {P}:rec:clips:<call>  hash   the call's voice clips (clips.py): name -> id of its
                                 spoken-name recording, name_source; once the call has
                                 ended also queue, appeal, operator, ended, name_file
    {P}:rec:twilio-undeleted
                          zset   Twilio recording SIDs stored here but not yet deleted
                                 at Twilio -> when the delete first failed
    {P}:rec:twilio-pending
                          hash   Twilio recording SID -> JSON {call_sid, url, clip, since}:
                                 a fetch or store that failed, to be tried again

Every change that touches several keys is one Lua script (atomic): adding a
recording, marking it for purge (only if it is still stored, unheld and expired),
setting or releasing a legal hold (refused once a purge has started), giving a stored
recording the retention of the call it turned out to belong to (a Twilio name clip,
stored before the caller chose a queue), and removing it.  A held recording leaves ``by-expiry``; releasing the hold puts it back with its
original expiry, so a hold released after the expiry date is purged at the next run.
"""

from __future__ import annotations

from collections.abc import Iterator

from redis import Redis

from ivr.lease import Leases
from ivr.recordings.meta import RecordingMeta, _s

_ADD = """
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
redis.call('HSET', KEYS[1], unpack(ARGV, 5))
if ARGV[3] ~= '1' then redis.call('ZADD', KEYS[2], ARGV[2], ARGV[1]) end
redis.call('ZADD', KEYS[3], ARGV[4], ARGV[1])
return 1
"""

_MARK = """
if redis.call('HGET', KEYS[1], 'state') ~= 'stored' then return 0 end
if redis.call('HGET', KEYS[1], 'hold') == '1' then return 0 end
if tonumber(redis.call('HGET', KEYS[1], 'expires')) > tonumber(ARGV[2]) then return 0 end
redis.call('HSET', KEYS[1], 'state', 'purging', 'purge_at', ARGV[2], 'purge_why', ARGV[3],
           'purge_intent', ARGV[4])
redis.call('ZREM', KEYS[2], ARGV[1])
redis.call('SADD', KEYS[3], ARGV[1])
return 1
"""

_MARK_ANY = """
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
if redis.call('HGET', KEYS[1], 'state') == 'purging' then return 0 end
redis.call('HSET', KEYS[1], 'state', 'purging', 'purge_at', ARGV[2], 'purge_why', ARGV[3],
           'purge_intent', ARGV[4])
redis.call('ZREM', KEYS[2], ARGV[1])
redis.call('SADD', KEYS[3], ARGV[1])
return 1
"""

_HOLD = """
if redis.call('EXISTS', KEYS[1]) == 0 then return -1 end
if redis.call('HGET', KEYS[1], 'state') ~= 'stored' then return -2 end
if ARGV[2] == '1' then
  redis.call('HSET', KEYS[1], 'hold', '1', 'hold_reason', ARGV[3])
  redis.call('ZREM', KEYS[2], ARGV[1])
else
  redis.call('HSET', KEYS[1], 'hold', '0')
  redis.call('HDEL', KEYS[1], 'hold_reason')
  redis.call('ZADD', KEYS[2], redis.call('HGET', KEYS[1], 'expires'), ARGV[1])
end
return 1
"""

_RETAIN = """
if redis.call('HGET', KEYS[1], 'state') ~= 'stored' then return 0 end
redis.call('HSET', KEYS[1], 'expires', ARGV[2], 'retention_days', ARGV[3], unpack(ARGV, 4))
if redis.call('HGET', KEYS[1], 'hold') ~= '1' then redis.call('ZADD', KEYS[2], ARGV[2], ARGV[1]) end
return 1
"""

_REMOVE = """
redis.call('DEL', KEYS[1])
redis.call('ZREM', KEYS[2], ARGV[1])
redis.call('ZREM', KEYS[3], ARGV[1])
redis.call('SREM', KEYS[4], ARGV[1])
redis.call('ZREM', KEYS[5], ARGV[1])
return 1
"""

class Keys:
    """Every Redis key name of the recordings index, from one set of templates."""

    def __init__(self, prefix: str = "ivr") -> None:
        self.tag = "{" + prefix + "}"

    def recording(self, recording_id: str) -> str:
        return f"{self.tag}:rec:{recording_id}"

    @property
    def by_expiry(self) -> str:
        return f"{self.tag}:rec:by-expiry"

    @property
    def by_created(self) -> str:
        return f"{self.tag}:rec:by-created"

    @property
    def purging(self) -> str:
        return f"{self.tag}:rec:purging"

    @property
    def key_check(self) -> str:
        return f"{self.tag}:rec:key-check"

    @property
    def purge_lock(self) -> str:
        return f"{self.tag}:rec:purge-lock"

    def call(self, call_id: str) -> str:
        return f"{self.tag}:rec:call:{call_id}"

    def pause(self, call_id: str) -> str:
        return f"{self.tag}:rec:pause:{call_id}"

    def claim(self, source: str) -> str:
        return f"{self.tag}:rec:claim:{source}"

    def clips(self, call_id: str) -> str:
        return f"{self.tag}:rec:clips:{call_id}"

    @property
    def unarchived(self) -> str:
        return f"{self.tag}:rec:unarchived"

    @property
    def twilio_undeleted(self) -> str:
        return f"{self.tag}:rec:twilio-undeleted"

    @property
    def twilio_pending(self) -> str:
        return f"{self.tag}:rec:twilio-pending"


class RecordingIndex:
    def __init__(self, redis: Redis, *, prefix: str = "ivr") -> None:
        self.redis = redis
        self.keys = Keys(prefix)
        self._add = redis.register_script(_ADD)
        self._mark = redis.register_script(_MARK)
        self._mark_any = redis.register_script(_MARK_ANY)
        self._hold = redis.register_script(_HOLD)
        self._retain = redis.register_script(_RETAIN)
        self._remove = redis.register_script(_REMOVE)
        self._leases = Leases(redis)

    def add(self, meta: RecordingMeta) -> bool:
        """Index a new recording; False if the id is already indexed."""
        k = self.keys
        flat: list[str] = []
        for field, value in meta.to_hash().items():
            flat += [field, value]
        res = self._add(
            keys=[k.recording(meta.id), k.by_expiry, k.by_created],
            args=[meta.id, repr(meta.expires), "1" if meta.hold else "0", repr(meta.created), *flat],
        )
        return bool(res)

    def get(self, recording_id: str) -> RecordingMeta | None:
        raw = self.redis.hgetall(self.keys.recording(recording_id))
        return RecordingMeta.from_hash(raw) if raw else None

    def purge_fields(self, recording_id: str) -> dict[str, str]:
        raw = self.redis.hmget(self.keys.recording(recording_id), ["purge_at", "purge_why", "purge_intent", "sha256"])
        names = ("purge_at", "purge_why", "purge_intent", "sha256")
        return {n: _s(v) for n, v in zip(names, raw, strict=True) if v is not None}

    def exists(self, recording_id: str) -> bool:
        return bool(self.redis.exists(self.keys.recording(recording_id)))

    def ids(self, *, start: float = float("-inf"), end: float = float("inf")) -> Iterator[str]:
        """Ids by creation time, oldest first, fetched in pages."""
        page = 500
        offset = 0
        while True:
            batch = self.redis.zrangebyscore(self.keys.by_created, start, end, start=offset, num=page)
            for raw in batch:
                yield _s(raw)
            if len(batch) < page:
                return
            offset += page

    def newest(self, limit: int) -> list[str]:
        """The ``limit`` most recently created ids, newest first."""
        return [_s(r) for r in self.redis.zrevrange(self.keys.by_created, 0, limit - 1)]

    def due(self, now: float, *, limit: int = 1000) -> list[str]:
        """Stored, unheld recordings whose expiry is at or before ``now``."""
        return [_s(r) for r in self.redis.zrangebyscore(self.keys.by_expiry, "-inf", now, start=0, num=limit)]

    def purging(self) -> list[str]:
        return sorted(_s(r) for r in self.redis.smembers(self.keys.purging))

    def mark_expired(self, recording_id: str, *, now: float, why: str, intent: str) -> bool:
        """Atomically: if stored, unheld and expired at ``now``, mark it purging."""
        k = self.keys
        return bool(
            self._mark(
                keys=[k.recording(recording_id), k.by_expiry, k.purging],
                args=[recording_id, repr(now), why, intent],
            )
        )

    def mark_purging(self, recording_id: str, *, now: float, why: str, intent: str) -> bool:
        """Mark purging regardless of expiry and hold (reconcile: the file is gone)."""
        k = self.keys
        return bool(
            self._mark_any(
                keys=[k.recording(recording_id), k.by_expiry, k.purging],
                args=[recording_id, repr(now), why, intent],
            )
        )

    def set_hold(self, recording_id: str, *, hold: bool, reason: str) -> int:
        """1 done, -1 unknown id, -2 purge already started."""
        k = self.keys
        return int(
            self._hold(
                keys=[k.recording(recording_id), k.by_expiry],
                args=[recording_id, "1" if hold else "0", reason],
            )
        )

    def set_key_id(self, recording_id: str, key_id: str) -> None:
        if self.exists(recording_id):
            self.redis.hset(self.keys.recording(recording_id), "key_id", key_id)

    def retain(self, recording_id: str, *, expires: float, retention_days: int, **fields: str) -> bool:
        """A stored recording's new expiry and retention (and metadata ``fields``); False when
        it is not stored (unknown, or its purge has started).  A held recording stays held."""
        k = self.keys
        flat = [part for pair in fields.items() for part in pair]
        return bool(
            self._retain(
                keys=[k.recording(recording_id), k.by_expiry],
                args=[recording_id, repr(expires), str(retention_days), *flat],
            )
        )

    def remove(self, recording_id: str) -> None:
        k = self.keys
        self._remove(
            keys=[k.recording(recording_id), k.by_expiry, k.by_created, k.purging, k.unarchived],
            args=[recording_id],
        )

    # -- containers waiting in an engine's outbox for the archive ------------------------

    def mark_unarchived(self, recording_id: str, *, at: float) -> None:
        self.redis.zadd(self.keys.unarchived, {recording_id: at}, nx=True)

    def archived(self, recording_id: str) -> None:
        self.redis.zrem(self.keys.unarchived, recording_id)

    def is_unarchived(self, recording_id: str) -> bool:
        return self.redis.zscore(self.keys.unarchived, recording_id) is not None

    def unarchived_ids(self) -> list[str]:
        return [_s(r) for r in self.redis.zrange(self.keys.unarchived, 0, -1)]

    def lock_purge(self, token: str, *, ttl_seconds: int) -> bool:
        return self._leases.take(self.keys.purge_lock, ttl_seconds, token) is not None

    def unlock_purge(self, token: str) -> None:
        self._leases.release(self.keys.purge_lock, token)
