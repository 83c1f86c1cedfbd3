"""Appeal numbers (номер обращения) issued by the hotline.

Ten digits: a zero-padded nine-digit payload followed by a Luhn check digit, which
catches every single-digit error and most adjacent swaps.  The payload is drawn at
random by the appeal book (``routing.appeals``), never counted: a number says
nothing about the numbers issued before or after it.
"""

from __future__ import annotations

from ._digits import clean_digits, is_all_zero
from .errors import InvalidIdentity

MAX_SEQUENCE = 999_999_999


def luhn_check_digit(payload: str) -> int:
    """The Luhn digit to append to ``payload`` (ASCII digits)."""
    total = 0
    # Walking right to left, the digit next to the check digit is doubled.
    for i, ch in enumerate(reversed(payload)):
        d = int(ch)
        if i % 2 == 0:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return (10 - total % 10) % 10


def make_appeal_number(seq: int) -> str:
    """Appeal number for the nine-digit payload ``seq`` (1..999_999_999)."""
    if isinstance(seq, bool) or not isinstance(seq, int):
        raise TypeError("sequence number must be an int")
    if not 1 <= seq <= MAX_SEQUENCE:
        raise ValueError(f"sequence number must be in 1..{MAX_SEQUENCE}, got {seq}")
    payload = f"{seq:09d}"
    return payload + str(luhn_check_digit(payload))


def validate_appeal_number(text: str) -> str:
    """Validate an appeal number and return its ten digits.

    Raises ``InvalidIdentity(kind='appeal_number', ...)`` with reason 'empty',
    'not_digits', 'length', 'reserved' (all zeros) or 'checksum'.
    """
    digits = clean_digits(text, "appeal_number", "appeal number")
    if len(digits) != 10:
        raise InvalidIdentity(
            "appeal_number",
            "length",
            f"appeal number must have 10 digits, got {len(digits)}",
        )
    if is_all_zero(digits):
        raise InvalidIdentity(
            "appeal_number", "reserved", "appeal number cannot be all zeros"
        )
    if luhn_check_digit(digits[:9]) != int(digits[9]):
        raise InvalidIdentity(
            "appeal_number", "checksum", "appeal number check digit does not match"
        )
    return digits
