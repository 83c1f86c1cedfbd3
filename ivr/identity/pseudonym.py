"""Identity keys: all that Redis keeps of a caller's ИНН, СНИЛС and phone number.

An identity key is ``<kind>:<HMAC-SHA256 of "<kind>:<value>">`` under a secret key kept
out of the data (``IVR_IDENTITY_KEY``).  It finds a caller's earlier appeals (the
repeat-caller boost, the operator's screen-pop) and tells whether the caller asking for an
appeal's status is its holder, and it is nothing more: a plain SHA-256 of an 11-digit
СНИЛС or a 12-digit ИНН is undone by hashing every candidate (10^9 СНИЛС with a good
checksum), so without the key a copy of Redis gives no document back.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass

from .snils import snils_digits

MIN_KEY_BYTES = 16


@dataclass(frozen=True, repr=False)
class IdentityHasher:
    key: bytes

    def __post_init__(self) -> None:
        if len(self.key) < MIN_KEY_BYTES:
            raise ValueError(f"an identity key needs at least {MIN_KEY_BYTES} bytes")

    def __repr__(self) -> str:  # never print the key by accident
        return "IdentityHasher(key=...)"

    def key_of(self, kind: str, value: str) -> str:
        digest = hmac.new(self.key, f"{kind}:{value}".encode(), hashlib.sha256).hexdigest()
        return f"{kind}:{digest}"

    def documents(self, *, inn: str | None, snils: str | None) -> tuple[str, ...]:
        """The keys of the documents given (a ИНН as digits, a СНИЛС in any formatting)."""
        keys: list[str] = []
        if inn:
            keys.append(self.key_of("inn", inn))
        if snils:
            keys.append(self.key_of("snils", snils_digits(snils)))
        return tuple(keys)

    def phone(self, number: str) -> str:
        """The key of a caller's number (already normalised, ``+7...``)."""
        return self.key_of("tel", number)
