"""What Twilio needs to remember about a bridged call while the console acts on it.

A call is bridged with ``<Dial><Client>`` (:mod:`ivr.twilio.handover`).  Pausing its
recording needs only the caller's CallSid; warm transfer and supervision need a Twilio
Conference, so the first of them moves the conversation into one (``hotline-<caller's
CallSid>``, :mod:`ivr.twilio.control`).  Until the conversation ends this record says
whether it is in a conference yet, which operator leg talks to the caller, whether a
consultation is under way and whether the recording is paused.  The webhooks fill in
what only Twilio knows (the conference's SID, who joined).

Keys (hash-tagged like every key of the engine)::

    {ivr}:twilio:live:<caller CallSid>         hash: operator, leg, paused, record, room,
                                               conference, joined:<CallSid>, ready,
                                               consult_operator, consult_leg
    {ivr}:twilio:live-ready:<caller CallSid>   list: one item pushed when the caller and the
                                               operator have both joined the conference
    {ivr}:twilio:live-busy:<caller CallSid>    lease: one console action at a time on the call

A console request that moved the call waits on the list (``BLPOP``), not by polling.

How the record moves (the only writers)::

    record                      set by                                       in
    paused                      pause_recording / resume_recording           control
    room, operator, leg, record the first warm transfer or supervisor,       control._room
                                before the operator's leg is sent there
    (room cleared)              Twilio refused that move                      control._room
    conference, joined:*, ready /twilio/room participant-join                 calls.room_event
    consult_operator, _leg      consult; cleared by complete (operator, leg   control
                                := the next operator's), cancel, and the
                                next operator's call ending first
    (dropped)                   the conversation's end (/twilio/dialled,      calls, control
                                /twilio/status) or a blind transfer
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from ivr.lease import Leases

_OPEN_ROOM = """
if redis.call('HGET', KEYS[1], 'room') then return 0 end
redis.call('HSET', KEYS[1], 'room', ARGV[1], 'operator', ARGV[2], 'leg', ARGV[3], 'record', ARGV[4])
redis.call('EXPIRE', KEYS[1], ARGV[5])
return 1
"""

# A participant joined: note the conference and who; the first time both the caller
# (ARGV[3]) and the operator's leg are in, say so once on the list.
_JOINED = """
local room = redis.call('HGET', KEYS[1], 'room')
if not room then return 0 end
redis.call('HSET', KEYS[1], 'conference', ARGV[1], 'joined:' .. ARGV[2], '1')
local leg = redis.call('HGET', KEYS[1], 'leg')
if redis.call('HGET', KEYS[1], 'ready') ~= '1' and redis.call('HGET', KEYS[1], 'joined:' .. ARGV[3])
   and leg and redis.call('HGET', KEYS[1], 'joined:' .. leg) then
  redis.call('HSET', KEYS[1], 'ready', '1')
  redis.call('RPUSH', KEYS[2], '1')
  redis.call('EXPIRE', KEYS[2], 60)
end
return 1
"""


@dataclass(frozen=True)
class LiveCall:
    """One bridged Twilio call.  ``room`` empty: still the ``<Dial>`` bridge; ``ready``:
    the caller and ``leg`` are both in conference ``conference`` (CF...)."""

    caller: str
    operator: str = ""
    leg: str = ""
    paused: bool = False
    record: bool = False
    room: str = ""
    conference: str = ""
    ready: bool = False
    consult_operator: str = ""
    consult_leg: str = ""


def room_name(caller: str) -> str:
    return f"hotline-{caller}"


class LiveCalls:
    def __init__(self, *, redis: Any, prefix: str = "ivr", ttl: int = 4 * 3600) -> None:
        self.redis = redis
        self.prefix = prefix
        self.ttl = ttl
        self._open_room = redis.register_script(_OPEN_ROOM)
        self._joined = redis.register_script(_JOINED)
        self._leases = Leases(redis)

    def key(self, caller: str) -> str:
        return f"{{{self.prefix}}}:twilio:live:{caller}"

    def ready_key(self, caller: str) -> str:
        return f"{{{self.prefix}}}:twilio:live-ready:{caller}"

    def busy_key(self, caller: str) -> str:
        return f"{{{self.prefix}}}:twilio:live-busy:{caller}"

    @contextmanager
    def action(self, caller: str, seconds: float) -> Iterator[bool]:
        """Hold the call for one console action; yields False while another one is under way
        (a double click, two supervisors at once), on whichever engine process."""
        token = self._leases.take(self.busy_key(caller), seconds)
        try:
            yield token is not None
        finally:
            if token is not None:
                self._leases.release(self.busy_key(caller), token)

    def get(self, caller: str) -> LiveCall | None:
        raw: dict[bytes, bytes] = self.redis.hgetall(self.key(caller))
        if not raw:
            return None
        text = {k.decode(): v.decode() for k, v in raw.items()}
        return LiveCall(
            caller=caller, operator=text.get("operator", ""), leg=text.get("leg", ""),
            paused=text.get("paused") == "1", record=text.get("record") == "1", room=text.get("room", ""),
            conference=text.get("conference", ""), ready=text.get("ready") == "1",
            consult_operator=text.get("consult_operator", ""), consult_leg=text.get("consult_leg", ""),
        )

    def open_room(self, caller: str, *, operator: str, leg: str, record: bool) -> bool:
        """Mark the call as moving into its conference; False when it already is."""
        done = self._open_room(keys=[self.key(caller)],
                               args=[room_name(caller), operator, leg, "1" if record else "0", self.ttl])
        return bool(done)

    def close_room(self, caller: str) -> None:
        """The move did not happen (Twilio refused it): the call is a ``<Dial>`` bridge again."""
        fields = [f.decode() for f in self.redis.hkeys(self.key(caller))]
        gone = [f for f in fields if f in ("room", "operator", "leg", "record", "conference", "ready")
                or f.startswith("joined:")]
        if gone:
            self.redis.hdel(self.key(caller), *gone)
        self.redis.delete(self.ready_key(caller))

    def joined(self, caller: str, *, conference: str, participant: str) -> None:
        self._joined(keys=[self.key(caller), self.ready_key(caller)], args=[conference, participant, caller])

    def wait_ready(self, caller: str, timeout: float) -> LiveCall | None:
        """The call once the caller and the operator are in the conference, or as it is
        when ``timeout`` seconds pass first."""
        live = self.get(caller)
        if live is None or live.ready or not live.room:
            return live
        self.redis.blpop([self.ready_key(caller)], timeout=max(timeout, 0.01))
        return self.get(caller)

    def update(self, caller: str, **fields: str | bool) -> None:
        values = {name: ("1" if v else "0") if isinstance(v, bool) else v for name, v in fields.items()}
        pipe = self.redis.pipeline()
        pipe.hset(self.key(caller), mapping=values)
        pipe.expire(self.key(caller), self.ttl)
        pipe.execute()

    def drop(self, caller: str) -> None:
        self.redis.delete(self.key(caller), self.ready_key(caller))
