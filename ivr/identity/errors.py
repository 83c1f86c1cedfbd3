"""Validation error shared by every identity validator.

The IVR maps ``InvalidIdentity.reason`` (a short machine code) to a Russian
prompt; ``str(error)`` is an English explanation for developers and logs.
Messages never echo the caller's input, so they are safe to log.
"""

from __future__ import annotations

from typing import Literal

IdentityKind = Literal["inn", "snils", "appeal_number", "phone", "name", "digits"]

Reason = Literal[
    "empty",  # nothing usable was entered or said
    "not_digits",  # a character or word that is not a digit / digit word
    "length",  # wrong number of digits
    "checksum",  # check digit(s) do not match
    "reserved",  # structurally valid but never issued (e.g. all zeros)
    "country",  # phone number is not a +7 / 8 number
    "prefix",  # +7 number outside the Russian ranges 3xx/4xx/8xx/9xx
    "too_few_parts",  # name: fewer than surname + given name
    "too_many_parts",  # name: more parts than surname, given, patronymic
    "has_digits",  # name: a part contains digits
]


class InvalidIdentity(ValueError):
    """Raised when an identifier or a name cannot be accepted."""

    kind: IdentityKind
    reason: Reason

    def __init__(self, kind: IdentityKind, reason: Reason, message: str) -> None:
        super().__init__(message)
        self.kind = kind
        self.reason = reason

    def __reduce__(self) -> tuple[type[InvalidIdentity], tuple[str, str, str]]:
        # Keep the exception picklable (e.g. for multiprocessing log handlers):
        # the default reduction would replay only ``args == (message,)``.
        return (type(self), (self.kind, self.reason, str(self)))

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(kind={self.kind!r}, reason={self.reason!r}, "
            f"message={str(self)!r})"
        )
