"""One exception tree for the citizen's copy.

    SubjectAccessError
    ├── BadIdentity        the ИНН, СНИЛС or phone number given is not one (``kind``, ``reason``)
    ├── ReasonRequired     no reason (the citizen's request: its number and date) given
    ├── NotAllowed         the role may not make copies (auditor only)
    └── NotAudited         the request could not be audited: refused
"""

from __future__ import annotations

from typing import Any


class SubjectAccessError(Exception):
    def __init__(self, message: str, **details: Any) -> None:
        super().__init__(message)
        self.message = message
        self.details: dict[str, Any] = dict(details)


class BadIdentity(SubjectAccessError):
    pass


class NotAudited(SubjectAccessError):
    pass


class ReasonRequired(SubjectAccessError):
    pass


class NotAllowed(SubjectAccessError):
    pass
