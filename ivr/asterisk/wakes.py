"""Holds cut short when routing has news for a waiting call, instead of one look every 5 s.

A caller on hold is in one ``WAIT FOR DIGIT`` under music (:mod:`ivr.asterisk.media`).
Without AMI nothing on the engine's side can end that wait, so a hold lasts its enqueue
node's ``poll_seconds`` (5 s) and then the engine looks at routing: that bounds how long a
reserved operator waits for the caller, and costs every waiting call an AGI command, a
pool hand-off and a Redis round trip every 5 s.

With AMI the engine can end it: ``PlayDTMF`` with ``Receive: true`` queues a key on the
caller's channel as if they had pressed it (Asterisk 16+), and the ``WAIT FOR DIGIT``
returns it.  So a hold lasts until the next queue announcement is due (``announce_every``,
45 s) and is cut short when routing's event stream names the call (an operator reserved
for it, the queue gave it up): the engine looks at routing then, and puts the caller
through within about a second of the reservation instead of up to 5 s.

=====================  ===================================================================
:class:`HoldWakes`     this server's calls, which of them are on hold; ``news()`` wakes
                       those named, the rest (between two holds) at their next hold
``read_news``          the engine's tick (once a second): routing's events since the last
                       read (one ``XREAD``, whatever the number of calls), to ``news()``
=====================  ===================================================================

The key is ``D`` (:data:`WAKE_KEY`), one no hotline prompt asks for and few phones have; a
caller who does press it only makes the engine look at routing once more.  A wake that
comes while the caller hears an announcement (a ``Playback`` that takes no key would eat
it) is kept and ends their next hold at once.  A wake AMI refuses (the channel is gone, the
connection is down) is logged: the hold ends at its announcement, and a reservation that
expires meanwhile is offered again by routing.  Several Asterisk hosts behind one engine
need the AMI of each: the wake goes through the one ``asterisk.ami`` names.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

log = logging.getLogger(__name__)
WAKE_KEY = "D"
# How long the emulated key lasts (ms): above Asterisk's shortest DTMF (80 ms), so the
# core does not stretch it itself.
WAKE_KEY_MS = 100
# Routing events that name a call but are not news for its hold: its own enqueue.
NOT_NEWS = frozenset({"enqueued"})

# channel name -> None; raises when the telephony refuses (AmiError)
SendWake = Callable[[str], None]
# the Asterisk host a call came from -> the way to wake its holds now, or None
Sender = Callable[[str], "SendWake | None"]


@dataclass
class _Call:
    channel: str
    host: str  # the Asterisk host the call came from (its FastAGI connection's peer)
    holding: bool = False
    pending: bool = False  # news came while it was not on hold


class HoldWakes:
    """Which calls of one FastAGI server are on hold, and the way to cut their holds short.

    ``sender(host)`` gives the current way to reach a call from that Asterisk host (AMI's
    ``PlayDTMF``), or None when there is none now (no AMI, its connection is down, or it is
    another host's AMI): then that call's holds are not lengthened.  Thread-safe: the
    calls register on the server's loop, the news comes from the engine's tick."""

    def __init__(self, sender: Sender = lambda host: None) -> None:
        self.sender = sender
        self._calls: dict[str, _Call] = {}
        self._lock = threading.Lock()
        self.cursor: str | None = None  # the last routing event read

    def armed(self, call_id: str) -> bool:
        """This call's hold can be cut short now: it may last until its announcement."""
        call = self._calls.get(call_id)
        return call is not None and self.sender(call.host) is not None

    def opened(self, call_id: str, channel: str, host: str) -> None:
        with self._lock:
            self._calls[call_id] = _Call(channel, host)

    def closed(self, call_id: str) -> None:
        with self._lock:
            self._calls.pop(call_id, None)

    def begin_hold(self, call_id: str) -> bool:
        """The call goes on hold: False when news came since its last hold (look at routing
        now instead)."""
        with self._lock:
            call = self._calls.get(call_id)
            if call is None:
                return True
            if call.pending:
                call.pending = False
                return False
            call.holding = True
            return True

    def end_hold(self, call_id: str) -> None:
        with self._lock:
            if (call := self._calls.get(call_id)) is not None:
                call.holding = False

    def news(self, call_ids: Iterable[str]) -> int:
        """Routing has news for these calls: wake the ones on hold, mark the others of ours
        for their next hold.  Returns how many holds were cut short."""
        holding = []
        with self._lock:
            for call_id in dict.fromkeys(call_ids):
                call = self._calls.get(call_id)
                if call is None:
                    continue  # another engine's call, or over
                if call.holding:
                    call.holding = False  # one wake a hold
                    holding.append((call_id, call))
                else:
                    call.pending = True
        return self._wake(holding)

    def wake_all(self) -> int:
        """Cut every hold short (the server hands its calls back to the dialplan)."""
        with self._lock:
            ours = list(self._calls)
        return self.news(ours)

    def _wake(self, calls: list[tuple[str, _Call]]) -> int:
        woken = 0
        for call_id, call in calls:
            send = self.sender(call.host)
            if send is None:
                log.warning("call %s: no AMI to cut its hold short; it ends at its announcement", call_id)
                continue
            try:
                send(call.channel)
                woken += 1
            except Exception as exc:  # noqa: BLE001 - one call's wake must not stop the others'
                log.warning("call %s: its hold could not be cut short (%s); it ends at its announcement",
                            call_id, exc)
        return woken

    def read_news(self, router: Any) -> int:
        """Routing's events since the last read (the engine's tick): wake the calls named.
        While the server has no call AMI can wake nothing is read; the first read after that starts at
        the stream's end and counts as news for every call it finds (an event between a
        call's start and that read would be missed otherwise)."""
        with self._lock:
            hosts = {call.host for call in self._calls.values()}
        if not any(self.sender(host) is not None for host in hosts):  # no call, or none AMI can wake
            self.cursor = None  # from the stream's end again when there is one
            return 0
        if self.cursor is None:  # what came before is unknown: every call looks at routing once
            self.cursor = router.latest_event_id()
            return self.wake_all()
        named: list[str] = []
        while True:
            batch = router.events(self.cursor, count=500)
            if not batch:
                break
            self.cursor = batch[-1][0]
            named.extend(fields["call"] for _, fields in batch
                         if fields.get("call") and fields.get("type") not in NOT_NEWS)
            if len(batch) < 500:
                break
        return self.news(named) if named else 0


def ami_wake(ami: Any) -> SendWake:
    """``PlayDTMF`` of :data:`WAKE_KEY` received on the channel (the caller "pressed" it)."""

    def send(channel: str) -> None:
        ami.action("PlayDTMF", {"Channel": channel, "Digit": WAKE_KEY, "Duration": str(WAKE_KEY_MS),
                                "Receive": "true"})

    return send
