"""Log-in throttling: per address, per name, per (name, address); never a lock-out by others.

Strategy
--------
Three counters of failed log-ins, each living ``console.lockout_minutes`` from its first
failure (Redis keys under ``{P}:console:``, names and addresses hashed):

* **per address** (``login-address:<h(ip)>``): ``console.address_attempts`` failures from
  one address, whatever the names, and that address is refused (429, ``Retry-After``)
  until the window ends.  Password spraying (many names, one address) stops here.
* **per (name, address)** (``login-failures:<h(name|ip)>``): ``console.login_attempts``
  failures for one name from one address, and that pair is refused until the window
  ends, even with the right password.  Other addresses are not affected.
* **per name** (``login-name:<h(name)>``): from ``login_attempts`` failures for a name,
  whatever the addresses, each further failure closes the name for a doubling delay (1 s,
  2 s, 4 s ... at most :data:`NAME_DELAY_MAX` s, key ``login-gate:<h(name)>``) to every
  address that has itself failed on that name.  An address that has not (a *clean*
  address, under its own budget) is let through: the real user, from their own
  address, with the right password, is never locked out by someone else's failures.

The address is the peer's, or the client's as a trusted proxy reports it
(:func:`client_address`).  Refused attempts check no password and count nothing.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from ipaddress import IPv4Network, IPv6Network, ip_address
from typing import Any, Literal

from ivr.config.schema import ConsoleSettings

NAME_DELAY_MAX = 60
Why = Literal["locked", "address", "name"]


@dataclass(frozen=True)
class Throttled:
    """This attempt may not be checked now: ``why``, and the seconds until it may."""

    why: Why
    retry_after: int


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:32]


class LoginThrottle:
    def __init__(self, *, redis: Any, prefix: str, settings: ConsoleSettings) -> None:
        self.redis = redis
        self.tag = "{" + prefix + "}"
        self.settings = settings

    # -- keys -------------------------------------------------------------------------------
    def key_pair(self, name: str, ip: str) -> str:
        return f"{self.tag}:console:login-failures:{_digest(f'{name}|{ip}')}"

    def key_address(self, ip: str) -> str:
        return f"{self.tag}:console:login-address:{_digest(ip)}"

    def key_name(self, name: str) -> str:
        return f"{self.tag}:console:login-name:{_digest(name)}"

    def key_gate(self, name: str) -> str:
        return f"{self.tag}:console:login-gate:{_digest(name)}"

    @property
    def window(self) -> int:
        return self.settings.lockout_minutes * 60

    # -- before the password is checked -----------------------------------------------------
    def check(self, name: str, ip: str) -> Throttled | None:
        pipe = self.redis.pipeline(transaction=False)
        pipe.get(self.key_address(ip))
        pipe.ttl(self.key_address(ip))
        pipe.get(self.key_pair(name, ip))
        pipe.ttl(self.key_pair(name, ip))
        pipe.pttl(self.key_gate(name))
        by_address, address_ttl, by_pair, pair_ttl, gate_ms = pipe.execute()
        if int(by_address or 0) >= self.settings.address_attempts:
            return Throttled("address", max(1, int(address_ttl)))
        if int(by_pair or 0) >= self.settings.login_attempts:
            return Throttled("locked", max(1, int(pair_ttl)))
        if by_pair and int(gate_ms) > 0:  # this address failed on this name: it waits its turn
            return Throttled("name", max(1, (int(gate_ms) + 999) // 1000))
        return None

    # -- after it was checked ---------------------------------------------------------------
    def failed(self, name: str, ip: str) -> tuple[int, Throttled | None]:
        """Count a failure; the pair's count, and the refusal this failure has earned."""
        pipe = self.redis.pipeline(transaction=True)
        for key in (self.key_pair(name, ip), self.key_address(ip), self.key_name(name)):
            pipe.set(key, 0, ex=self.window, nx=True)  # the window starts at the first failure
            pipe.incr(key)  # (not EXPIRE NX: the embedded Redis is 6.2)
        _, by_pair, _, by_address, _, by_name = pipe.execute()
        over = int(by_name) - self.settings.login_attempts
        if over >= 0:
            self.redis.set(self.key_gate(name), "1", ex=min(NAME_DELAY_MAX, 2 ** min(over, 16)))
        if int(by_address) >= self.settings.address_attempts:
            return int(by_pair), Throttled("address", self.window)
        if int(by_pair) >= self.settings.login_attempts:
            return int(by_pair), Throttled("locked", self.window)
        return int(by_pair), None

    def succeeded(self, name: str, ip: str) -> None:
        self.redis.delete(self.key_pair(name, ip))


Network = IPv4Network | IPv6Network


def client_address(peer: str, forwarded_for: Sequence[str], trusted: Sequence[Network]) -> str:
    """The client's address: the peer's own, unless the peer is a trusted proxy.

    Behind trusted proxies, ``X-Forwarded-For: client, proxy1`` is read from the right:
    the first hop that is not a trusted proxy is the client (a client may write anything
    to the left of it, so nothing further left is believed).  nginx appends with
    ``proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for``.
    """
    if not trusted or not is_trusted(peer, trusted):
        return peer
    hops = [hop.strip() for value in forwarded_for for hop in value.split(",") if hop.strip()]
    for hop in reversed(hops):
        if not is_trusted(hop, trusted):
            return hop[:64]
    return hops[0][:64] if hops else peer


def is_trusted(text: str, trusted: Sequence[Network]) -> bool:
    try:
        address = ip_address(text)
    except ValueError:
        return False
    return any(address in network for network in trusted)
