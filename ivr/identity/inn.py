"""ИНН (taxpayer number) validation with the FNS check-digit algorithm.

* 10 digits: organisation, one check digit (the 10th).
* 12 digits: person or sole trader, two check digits (the 11th and 12th).

Each check digit is ``sum(digit * weight) % 11 % 10``.
"""

from __future__ import annotations

from typing import Literal

from ._digits import clean_digits, is_all_zero
from .errors import InvalidIdentity

InnKind = Literal["person", "organisation"]

_W10 = (2, 4, 10, 3, 5, 9, 4, 6, 8)
_W11 = (7, 2, 4, 10, 3, 5, 9, 4, 6, 8)
_W12 = (3, 7, 2, 4, 10, 3, 5, 9, 4, 6, 8)


def _check_digit(digits: str, weights: tuple[int, ...]) -> int:
    return sum(int(d) * w for d, w in zip(digits, weights, strict=True)) % 11 % 10


def inn_check_digits(body: str) -> str:
    """Check digit(s) for a 9-digit (organisation) or 10-digit (person) body."""
    if len(body) == 9:
        return str(_check_digit(body, _W10))
    if len(body) == 10:
        n11 = str(_check_digit(body, _W11))
        return n11 + str(_check_digit(body + n11, _W12))
    raise ValueError(f"ИНН body must have 9 or 10 digits, got {len(body)}")


def _has_valid_checksum(inn: str) -> bool:
    n_check = 1 if len(inn) == 10 else 2
    return inn_check_digits(inn[:-n_check]) == inn[-n_check:]


def validate_inn(text: str) -> str:
    """Validate a 10- or 12-digit ИНН and return its bare digits.

    Accepts plain digits, DTMF input with a trailing '#', and digits split by
    spaces or dashes. Raises ``InvalidIdentity(kind='inn', ...)`` with reason
    'empty', 'not_digits', 'length', 'reserved' (all zeros) or 'checksum'.
    """
    digits = clean_digits(text, "inn", "ИНН")
    if len(digits) not in (10, 12):
        raise InvalidIdentity(
            "inn", "length", f"ИНН must have 10 or 12 digits, got {len(digits)}"
        )
    if is_all_zero(digits):
        raise InvalidIdentity("inn", "reserved", "ИНН cannot be all zeros")
    if not _has_valid_checksum(digits):
        raise InvalidIdentity("inn", "checksum", "ИНН check digits do not match")
    return digits


def validate_person_inn(text: str) -> str:
    """Like ``validate_inn`` but only accepts a 12-digit (personal) ИНН."""
    digits = clean_digits(text, "inn", "ИНН")
    if len(digits) != 12:
        raise InvalidIdentity(
            "inn", "length", f"personal ИНН must have 12 digits, got {len(digits)}"
        )
    return validate_inn(digits)


def inn_kind(inn: str) -> InnKind:
    """'person' for a 12-digit ИНН, 'organisation' for a 10-digit one.

    The argument is validated first, so an invalid ИНН raises.
    """
    return "person" if len(validate_inn(inn)) == 12 else "organisation"
