"""Blocking an account after refused attempts at what it may not reach (issue 20).

«Любые попытки несанкционированного доступа фиксируются в системе аудита, и соответствующие
действия инициируют блокировку доступа» (seed 001).

Counted, for a logged-in user: another operator's call, a recording without the role, a
recording link that is used, expired or someone else's.  Not counted: a page of another
role (a mistyped address), a missing CSRF token (a stale page), and any request a browser
marks as started by another site (``Sec-Fetch-Site: cross-site`` / ``same-site``): a hostile
page must not be able to block its visitor by sending them to forged links.

``console.block_after`` counted refusals within ``console.block_window_minutes`` block the
account (0: never): every session of it ends at its next request, log-in is refused (403),
the security officer's page (``/auditor/accounts``) lists it, and only a supervisor unblocks
it (``/supervisor/accounts``).  Blocking and unblocking go to the console's hash-chained
audit and the security log.

Keys: ``{P}:console:refusals:<h(name)>`` (counter, the window from its first refusal),
``{P}:console:blocked`` (hash: name -> JSON {at, refusals, last}).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from typing import Any

from ivr.config.schema import ConsoleSettings

CROSS_SITE = frozenset({"cross-site", "same-site"})


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


class AccountBlocks:
    def __init__(self, *, redis: Any, prefix: str, settings: ConsoleSettings,
                 clock: Callable[[], float]) -> None:
        self.redis = redis
        self.tag = "{" + prefix + "}"
        self.settings = settings
        self.clock = clock

    def key_refusals(self, name: str) -> str:
        return f"{self.tag}:console:refusals:{hashlib.sha256(name.encode()).hexdigest()[:32]}"

    @property
    def key_blocked(self) -> str:
        return f"{self.tag}:console:blocked"

    def refused(self, name: str, kind: str) -> int | None:
        """Count one refusal; the count if this one blocked the account, else None."""
        if self.settings.block_after <= 0:
            return None
        key = self.key_refusals(name)
        pipe = self.redis.pipeline(transaction=True)
        pipe.set(key, 0, ex=self.settings.block_window_minutes * 60, nx=True)
        pipe.incr(key)
        count = int(pipe.execute()[1])
        if count < self.settings.block_after:
            return None
        record = json.dumps({"at": self.clock(), "refusals": count, "last": kind})
        return count if self.redis.hsetnx(self.key_blocked, name, record) else None

    def is_blocked(self, name: str) -> bool:
        return bool(self.redis.hexists(self.key_blocked, name))

    def blocked(self) -> list[dict[str, Any]]:
        """Blocked accounts, the latest first: {user, at, refusals, last (the kind)}."""
        rows = [{"user": _text(name), **json.loads(_text(raw))}
                for name, raw in self.redis.hgetall(self.key_blocked).items()]
        return sorted(rows, key=lambda row: float(row["at"]), reverse=True)

    def unblock(self, name: str) -> bool:
        pipe = self.redis.pipeline(transaction=True)
        pipe.hdel(self.key_blocked, name)
        pipe.delete(self.key_refusals(name))
        return bool(pipe.execute()[0])
