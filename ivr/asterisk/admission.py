"""Who may hold a FastAGI slot: the allow-list, the caps per peer, and pressure from the env-less.

FastAGI has no authentication: whoever reaches the port can start calls, allocate appeal
numbers and queue for operators.  And a connection holds a slot from the moment it is
accepted, before Asterisk has said anything: 2,000 idle TCP connections that never sent
an environment block once took every slot for ``env_timeout`` each, so every real call
was told "busy" (issue 19).  This module decides, without any I/O, what the server does
with a connection:

* from a host outside ``allowed_hosts``: closed at once (``not_allowed``), counted, and
  logged at most once per address per ``LOG_INTERVAL`` (a flood does not flood the log);
* beyond ``calls_per_host`` connections from one address: handed back "busy" as when
  the engine is full (``host_full``).  Asterisk is one address carrying every call, so this cap is as high
  as the engine's own ``max_calls`` unless set lower (several Asterisk hosts sharing one
  engine, or a listed network with other machines in it);
* a host's connections that have not sent their environment for more than
  :data:`SILENT_GRACE` are "silent"; beyond ``waiting_per_host`` of them, each new
  connection from that host pushes its oldest silent ones out.  Asterisk writes the
  environment block right after it connects, so it has no silent connections at all;
  its young env-less ones (a burst the loop has accepted but not yet read: asyncio
  accepts a whole backlog before reading any of it) are never pushed out by this rule;
* when more than half the slots are held by connections without their environment (the
  engine is "under pressure"), a new connection gets ``env_timeout_under_pressure`` for
  its environment instead of the full ``env_timeout``; and when every slot is taken, the
  oldest connection still without its environment is dropped to make room, before any
  call would be told "busy".

Wiring: :class:`ivr.asterisk.server.FastAgiServer` asks :meth:`Admission.refusal` and
:meth:`Admission.make_room` on accept, then tells :meth:`Admission.enter`,
:meth:`Admission.env_received` and :meth:`Admission.leave` as the call moves on.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Hashable
from dataclasses import dataclass, field
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network, ip_address, ip_network
from typing import Generic, Literal, TypeVar

K = TypeVar("K", bound=Hashable)
Refusal = Literal["not_allowed", "host_full"]
Network = IPv4Network | IPv6Network
LOOPBACK: tuple[Network, ...] = (ip_network("127.0.0.0/8"), ip_network("::1/128"))
LOG_INTERVAL = 60.0  # seconds between two log lines about one refused address
SILENT_GRACE = 1.0  # seconds without an environment before a connection counts as silent
LOGGED_ADDRESSES = 4096  # addresses remembered for that; beyond, the memory starts afresh


@dataclass(frozen=True)
class AdmissionSettings:
    """Defaults as in ``config.yaml`` (``asterisk:``); see README, "FastAGI exposure"."""

    allowed_hosts: tuple[Network, ...] = field(default=LOOPBACK)
    calls_per_host: int | None = None  # None: the server's max_calls
    waiting_per_host: int = 64  # silent connections one address may keep
    env_timeout_under_pressure: float = 2.0


def peer_address(host: str) -> IPv4Address | IPv6Address | None:
    """``"10.0.0.5"``, ``"::ffff:10.0.0.5"`` (a dual-stack socket) -> 10.0.0.5; junk -> None."""
    try:
        address = ip_address(host.split("%", 1)[0])
    except ValueError:
        return None
    if isinstance(address, IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def unreachable_hosts_warning(listen_host: str, allowed: tuple[Network, ...]) -> str | None:
    """A line for the start log when the engine listens beyond loopback and yet serves only
    loopback peers (the default list kept after ``engine.fastagi`` was changed)."""
    address = peer_address(listen_host) if listen_host not in ("", "0.0.0.0", "::") else None
    if address is not None and address.is_loopback:
        return None
    if not all(net.network_address.is_loopback for net in allowed):
        return None
    return (f"FastAGI listens on {listen_host or '*'} but asterisk.allowed_hosts lists only loopback: "
            "connections from other hosts will be closed; list each Asterisk host there")


class Admission(Generic[K]):
    """The bookkeeping of one server's slots; ``K`` is whatever names a connection.

    ``now`` arguments are monotonic seconds.
    """

    def __init__(self, settings: AdmissionSettings, *, max_calls: int) -> None:
        self.settings = settings
        self.max_calls = max_calls
        self.calls_per_host = settings.calls_per_host  # None: only max_calls bounds a host
        self._host: dict[K, str] = {}
        self._calls: dict[str, int] = {}  # per address, every connection holding a slot
        self._waiting: OrderedDict[K, str] = OrderedDict()  # no environment yet, oldest first
        self._waiting_at: dict[str, OrderedDict[K, float]] = {}  # per address: since when
        self._logged: dict[str, float] = {}  # address -> when last logged
        self.refused: dict[Refusal, int] = {"not_allowed": 0, "host_full": 0}
        self.dropped_waiting = 0  # no environment yet, dropped to make room for a newer connection

    def allowed(self, host: str) -> bool:
        address = peer_address(host)
        return address is not None and any(address in net for net in self.settings.allowed_hosts)

    def refusal(self, host: str) -> Refusal | None:
        """Why a connection from ``host`` is closed at once; None: it may take a slot."""
        why: Refusal | None = None
        if not self.allowed(host):
            why = "not_allowed"
        elif self.calls_per_host is not None and self._calls.get(host, 0) >= self.calls_per_host:
            why = "host_full"
        if why is not None:
            self.refused[why] += 1
        return why

    def should_log(self, host: str, now: float) -> bool:
        """At most one line per address per LOG_INTERVAL about its refusals."""
        last = self._logged.get(host)
        if last is not None and now - last < LOG_INTERVAL:
            return False
        if len(self._logged) >= LOGGED_ADDRESSES:
            self._logged.clear()
        self._logged[host] = now
        return True

    @property
    def waiting(self) -> int:
        return len(self._waiting)

    def under_pressure(self) -> bool:
        """More than half the slots held by connections that have not sent their environment."""
        return 2 * len(self._waiting) > self.max_calls

    def env_timeout(self, normal: float) -> float:
        """The environment deadline for a connection accepted now."""
        return min(normal, self.settings.env_timeout_under_pressure) if self.under_pressure() else normal

    def make_room(self, host: str, now: float, *, slots_full: bool) -> list[K]:
        """The connections to drop before one from ``host`` takes a slot (already forgotten here).

        ``host``'s silent ones beyond ``waiting_per_host``, oldest first; and when every
        slot is taken (``slots_full``) and none of those freed one, the oldest connection
        without its environment, from whatever host.
        """
        dropped: list[K] = []
        mine = self._waiting_at.get(host)
        while mine and len(mine) >= self.settings.waiting_per_host:
            key, since = next(iter(mine.items()))
            if now - since < SILENT_GRACE:
                break  # young: a burst not yet read, not a silent peer
            dropped.append(key)
            self.leave(key)
        if slots_full and not dropped and self._waiting:
            key = next(iter(self._waiting))
            dropped.append(key)
            self.leave(key)
        self.dropped_waiting += len(dropped)
        return dropped

    def enter(self, key: K, host: str, now: float) -> None:
        self._host[key] = host
        self._calls[host] = self._calls.get(host, 0) + 1
        self._waiting[key] = host
        self._waiting_at.setdefault(host, OrderedDict())[key] = now

    def env_received(self, key: K) -> None:
        host = self._waiting.pop(key, None)
        if host is not None:
            mine = self._waiting_at[host]
            del mine[key]
            if not mine:
                del self._waiting_at[host]

    def leave(self, key: K) -> None:
        self.env_received(key)
        host = self._host.pop(key, None)
        if host is not None:
            left = self._calls[host] - 1
            if left:
                self._calls[host] = left
            else:
                del self._calls[host]
