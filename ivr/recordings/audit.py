"""The recordings' two audit logs, on the one chained-and-anchored log of :mod:`ivr.audit.chain`.

* :class:`AuditLog` - every access attempt: who asked for which recording, when, why, the outcome;
* :class:`DeletionLog` - proof of destruction: one line per recording deleted (id, sha256, why).

Both are built by :mod:`ivr.audit.logs` (anchored in Redis, checkpointed, verified by
``ivr audit verify``); an append that cannot be written and anchored raises an ``OSError``
and the access it was auditing is refused.
"""

from __future__ import annotations

from typing import Any

from ivr.audit.chain import ChainedLog, Clock, iso
from ivr.audit.verify import verify_chain

__all__ = ["AuditLog", "ChainedLog", "Clock", "DeletionLog", "iso", "verify_chain"]


class AuditLog(ChainedLog):
    """The access audit: who asked for which recording, when, why, and the outcome."""

    def record(
        self,
        *,
        actor: str,
        role: str,
        action: str,
        recording: str,
        reason: str,
        outcome: str,
        detail: str | None = None,
    ) -> dict[str, Any]:
        fields: dict[str, Any] = {
            "actor": actor,
            "role": role,
            "action": action,
            "recording": recording,
            "reason": reason,
            "outcome": outcome,
        }
        if detail is not None:
            fields["detail"] = detail
        return self.append(**fields)


class DeletionLog(ChainedLog):
    """Proof of destruction: one line per recording deleted (id, sha256, when, why)."""

    def deleted(self, *, recording: str, sha256: str | None, why: str, intent: str, **extra: Any) -> dict[str, Any]:
        return self.append(event="deleted", recording=recording, sha256=sha256, why=why, intent=intent, **extra)
