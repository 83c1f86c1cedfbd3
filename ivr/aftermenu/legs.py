"""The live legs of a conversation: what a front end needs to act on a bridged call.

Once the operator answers, the console's live-call actions (transfer, supervisor listen /
whisper / barge, recording pause) act on the call through its telephony, and that needs
the two legs' handles, which only the telephony events carry: Asterisk's ``DialEnd``
``Channel`` (the caller's channel) and ``DestChannel`` (the operator's), Twilio's
``ParentCallSid`` (the caller's call) and the operator leg's ``CallSid``.  The console's
request may reach another engine process than the one that saw the answer, so the legs
are kept in Redis, beside the routing keys, from the answer until the conversation ends.

    Legs(call_id, front, operator_id, caller, operator, since)
    LiveLegs.put(legs) / get(call_id) / drop(call_id)

A front end's :class:`ivr.aftermenu.control.LiveControl` reads them; nothing here acts.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from typing import Any, Literal

Front = Literal["asterisk", "twilio", "softphone"]
KEEP_SECONDS = 12 * 3600  # a conversation longer than this has lost its end event


@dataclass(frozen=True)
class Legs:
    """One bridged conversation.  ``caller`` / ``operator``: the Asterisk channel names
    (``PJSIP/trunk-00000001``, ``PJSIP/op101-00000002``) or the Twilio call SIDs."""

    call_id: str
    front: Front
    operator_id: str
    caller: str
    operator: str
    since: float

    def to_json(self) -> str:
        return json.dumps(asdict(self), separators=(",", ":"))

    @classmethod
    def from_json(cls, raw: str | bytes) -> Legs:
        data: dict[str, Any] = json.loads(raw)
        return cls(**data)


class LiveLegs:
    """The legs of every conversation under way, in Redis (``{prefix}:legs:<call id>``)."""

    def __init__(self, *, redis: Any, prefix: str = "ivr") -> None:
        self.redis = redis
        self._prefix = "{" + prefix + "}:legs:"

    def _key(self, call_id: str) -> str:
        return self._prefix + call_id

    def put(self, legs: Legs) -> None:
        self.redis.set(self._key(legs.call_id), legs.to_json(), ex=KEEP_SECONDS)

    def get(self, call_id: str) -> Legs | None:
        raw = self.redis.get(self._key(call_id))
        return None if raw is None else Legs.from_json(raw)

    def drop(self, call_id: str) -> None:
        self.redis.delete(self._key(call_id))
