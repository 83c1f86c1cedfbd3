"""One exception tree for the audit logs; each error carries plain, loggable data.

    AuditError
    ├── AuditNotWritten   an entry could not be appended and anchored (also an OSError:
    │                     every "could not audit" path refuses what it was auditing)
    ├── AnchorMismatch    the file is not what its anchor says (cut, emptied, edited,
    │                     deleted): nothing more is appended until it is restored
    ├── LogBroken         a log fails verification (``kind``, ``line``: see verify.py)
    └── BadAuditKey       IVR_AUDIT_KEY is malformed
"""

from __future__ import annotations

from typing import Any


class AuditError(Exception):
    def __init__(self, message: str, *, log: str | None = None, **details: Any) -> None:
        super().__init__(message)
        self.message = message
        self.log = log
        self.details: dict[str, Any] = dict(details)

    def __str__(self) -> str:
        return f"{self.log}: {self.message}" if self.log else self.message


class AuditNotWritten(AuditError, OSError):
    """Raised by an append that did not complete; ``OSError`` so callers refuse access."""

    def __init__(self, message: str, *, log: str | None = None, **details: Any) -> None:
        AuditError.__init__(self, message, log=log, **details)

    def __str__(self) -> str:
        return AuditError.__str__(self)


class AnchorMismatch(AuditNotWritten):
    pass


class LogBroken(AuditError):
    def __init__(self, message: str, *, line: int, kind: str, log: str | None = None) -> None:
        super().__init__(message, log=log, line=line, kind=kind)
        self.line = line
        self.kind = kind


class BadAuditKey(AuditError):
    pass
