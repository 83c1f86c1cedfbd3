"""Engine processes that share one Redis, and the FastAGI calls each one holds.

Why: a FastAGI call lives in one process (its socket, its thread).  When that process
dies (OOM, SIGKILL, a host lost), Asterisk's dialplan sends the caller to its
fallback queue, but the call's entry in the routing queue stays ``waiting``: a ghost
that operators would be reserved for again and again.  Twilio calls are not bound to
a process (any engine takes the next webhook) and are not tracked here.

How: each process has an instance id and writes, under the routing hash tag::

    {ivr}:engines               HASH   instance id -> last heartbeat (epoch seconds)
    {ivr}:engine:<id>:calls     SET    FastAGI call ids this instance is serving

A call is added when its FastAGI session has its environment
(:meth:`InstanceRegistry.call_started`, from the server's call factory, in its service pool) and
removed once its FastAGI session has ended (:meth:`InstanceRegistry.call_ended`, from the
server's ``on_call_end``), not when the menu is done with it: between the menu's
decision to connect and Asterisk receiving ``IVR_STATUS=connect`` the call still depends
on this process, and if it dies there the reservation must be released, not left for a
hand-over that never comes.  The removal is noted and made at the next tick, with the beat,
one ``SREM`` for every call ended since (a call's end costs no Redis round trip, and no
wake-up of a pool thread; a call reaped a second late is already gone or connected, and
reaping leaves those as they are).  Every tick the instance beats; every
few seconds it looks for instances whose beat is older than ``lease`` seconds and
takes their calls one by one (``SPOP``: two survivors never take the same call) and
reports each as :class:`~ivr.aftermenu.EngineDied` (abandoned, ``node = engine_lost``), which frees any
operator reserved for them and counts the abandonment.  Callbacks, calls already
connected and calls already gone are left as they are.

Redis itself down for a while stops every beat; so an instance reaps only after its
own beats have succeeded for ``lease`` seconds in a row (every live instance has
beaten again by then).
"""

from __future__ import annotations

import logging
import os
import socket
import time
import uuid
from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ivr.aftermenu import CallLife, EngineDied
from ivr.aftermenu.life import LOST_NODE
from routing.errors import RoutingError

if TYPE_CHECKING:
    from routing.engine import Router

log = logging.getLogger(__name__)
__all__ = ["LOST_NODE", "InstanceRegistry", "new_instance_id"]


def new_instance_id() -> str:
    return f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:6]}"


class InstanceRegistry:
    def __init__(
        self,
        *,
        redis: Any,
        router: Router,
        instance_id: str | None = None,
        lease: float = 30.0,
        reap_every: float = 5.0,
        wall: Callable[[], float] = time.time,
        life: CallLife | None = None,
    ) -> None:
        self.redis = redis
        self.router = router
        self.life = life or CallLife(router=router)
        self.id = instance_id or new_instance_id()
        self.lease = lease
        self.reap_every = reap_every
        self.wall = wall
        tag = router.keys.tag
        self.engines_key = f"{tag}:engines"
        self._calls_prefix = f"{tag}:engine:"
        self._healthy_since: float | None = None
        self._next_reap = 0.0
        self.reaped = 0  # calls abandoned for dead instances, by this process
        self._ended: deque[str] = deque()  # sessions over, still in our set until the next tick

    def calls_key(self, instance_id: str) -> str:
        return f"{self._calls_prefix}{instance_id}:calls"

    # -- calls ------------------------------------------------------------------------------
    def call_started(self, call_id: str) -> None:
        """A FastAGI call is ours from now on (also when the dialplan brings it back)."""
        if not call_id:
            return
        try:
            self.redis.sadd(self.calls_key(self.id), call_id)
        except Exception as exc:  # noqa: BLE001 - a call must go on without its lease record
            log.warning("instance %s: call record not kept: %s", self.id, type(exc).__name__)

    def call_ended(self, call_id: str) -> None:
        """The call's session is over (the socket closed): it no longer depends on us.  Noted
        only (any thread, never blocks); the next :meth:`tick` takes it out of our set."""
        if call_id:
            self._ended.append(call_id)

    # -- background work ------------------------------------------------------------------
    def tick(self) -> int:
        """Beat, and forget the calls ended since the last tick; now and then reap dead
        instances.  Returns calls reaped now."""
        now = self.wall()
        ended = [self._ended.popleft() for _ in range(len(self._ended))]
        try:
            pipe = self.redis.pipeline(transaction=False)
            pipe.hset(self.engines_key, self.id, repr(now))
            if ended:
                pipe.srem(self.calls_key(self.id), *ended)
            pipe.execute()
        except Exception as exc:  # noqa: BLE001 - Redis down: no beat, and no reaping after it
            self._ended.extendleft(reversed(ended))  # forgotten at a later beat
            self._healthy_since = None
            log.debug("instance %s: no heartbeat: %s", self.id, exc)
            return 0
        if self._healthy_since is None:
            self._healthy_since = now
        if now < self._next_reap or now - self._healthy_since < self.lease:
            return 0
        self._next_reap = now + self.reap_every
        try:
            return self.reap(now)
        except Exception as exc:  # noqa: BLE001 - the next tick tries again
            log.warning("instance %s: reaping failed: %s", self.id, type(exc).__name__)
            return 0

    def dead_instances(self, now: float) -> list[str]:
        beats = self.redis.hgetall(self.engines_key)
        dead = []
        for raw_id, raw_beat in beats.items():
            instance = raw_id.decode() if isinstance(raw_id, bytes) else str(raw_id)
            try:
                beat = float(raw_beat)
            except ValueError:
                beat = 0.0
            if instance != self.id and now - beat > self.lease:
                dead.append(instance)
        return dead

    def reap(self, now: float) -> int:
        reaped = 0
        for instance in self.dead_instances(now):
            key = self.calls_key(instance)
            while (raw := self.redis.spop(key)) is not None:
                call_id = raw.decode() if isinstance(raw, bytes) else str(raw)
                try:
                    self.life.apply(EngineDied(call_id, instance))
                    reaped += 1
                except RoutingError:
                    pass  # a callback, connected, gone: nothing waits for an operator
            self.redis.hdel(self.engines_key, instance)
            log.warning("engine instance %s stopped beating; its waiting calls were abandoned", instance)
        self.reaped += reaped
        return reaped

    def leave(self) -> None:
        """A clean stop: calls were drained; forget this instance."""
        try:
            self.redis.delete(self.calls_key(self.id))
            self.redis.hdel(self.engines_key, self.id)
        except Exception as exc:  # noqa: BLE001 - at exit; a survivor reaps what is left
            log.debug("instance %s: leaving: %s", self.id, exc)
