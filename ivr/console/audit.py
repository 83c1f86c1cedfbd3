"""Who saw which personal data in the console: a hash-chained JSON-lines log.

The same append-only, hash-chained, fsynced format as the recordings access audit
(:mod:`ivr.recordings.audit`).  One line per attempt, allowed or refused: an operator
showing a caller's ИНН or СНИЛС, playing the spoken-name clip, opening a call that is
not theirs.  An attempt whose line cannot be written is refused.
"""

from __future__ import annotations

from typing import Any

from ivr.audit.chain import ChainedLog


class ConsoleAudit(ChainedLog):
    def record(
        self,
        *,
        actor: str,
        role: str,
        action: str,
        call: str,
        outcome: str,
        ip: str | None = None,
        detail: str | None = None,
    ) -> dict[str, Any]:
        fields: dict[str, Any] = {"actor": actor, "role": role, "action": action,
                                  "call": call[:80], "outcome": outcome}
        if ip:
            fields["ip"] = ip
        if detail:
            fields["detail"] = detail
        return self.append(**fields)
