"""СНИЛС (insurance number) validation.

Eleven digits: a nine-digit number and a two-digit check value. The check
value is ``sum(digit[i] * (9 - i))`` over the first nine digits, reduced
modulo 101 with 100 written as 00 (equivalently: below 100 as is; 100 and 101
give 00; above 101 take ``% 101`` and write 100 as 00).

Numbers whose first nine digits are at or below 001-001-998 were issued before
the check value was introduced, so any check value is accepted for them.
"""

from __future__ import annotations

from ._digits import clean_digits, is_all_zero
from .errors import InvalidIdentity

#: Highest number (first nine digits) issued without a meaningful check value.
CHECKSUM_THRESHOLD = 1_001_998


def snils_check_value(first_nine: str) -> int:
    """The check value (0..99) for the first nine digits of a СНИЛС."""
    if len(first_nine) != 9 or not first_nine.isascii() or not first_nine.isdigit():
        raise ValueError("expected exactly nine ASCII digits")
    total = sum(int(d) * (9 - i) for i, d in enumerate(first_nine))
    remainder = total % 101
    return 0 if remainder == 100 else remainder


def format_snils(digits: str) -> str:
    """'11223344595' -> '112-233-445 95' (no validation)."""
    return f"{digits[0:3]}-{digits[3:6]}-{digits[6:9]} {digits[9:11]}"


def validate_snils(text: str) -> str:
    """Validate a СНИЛС and return it formatted as ``XXX-XXX-XXX YY``.

    Accepts plain digits, DTMF input with a trailing '#', and the usual
    formatting with dashes and spaces. Raises ``InvalidIdentity(kind='snils',
    ...)`` with reason 'empty', 'not_digits', 'length', 'reserved' (first nine
    digits all zero) or 'checksum'.
    """
    digits = clean_digits(text, "snils", "СНИЛС")
    if len(digits) != 11:
        raise InvalidIdentity(
            "snils", "length", f"СНИЛС must have 11 digits, got {len(digits)}"
        )
    first_nine, check = digits[:9], digits[9:]
    if is_all_zero(first_nine):
        raise InvalidIdentity("snils", "reserved", "СНИЛС number cannot be all zeros")
    if int(first_nine) > CHECKSUM_THRESHOLD and int(check) != snils_check_value(
        first_nine
    ):
        raise InvalidIdentity("snils", "checksum", "СНИЛС check value does not match")
    return format_snils(digits)


def snils_digits(formatted: str) -> str:
    """The 11 bare digits of a valid СНИЛС given in any accepted form."""
    return validate_snils(formatted).replace("-", "").replace(" ", "")
