"""Russian phone numbers to E.164 (``+7XXXXXXXXXX``).

Accepted shapes (separators: spaces, dashes, dots, brackets; DTMF '#' at the
end):

* ``+7`` and ten digits;
* eleven digits starting with ``7`` or ``8`` (trunk prefix);
* ten digits (national number without prefix).

The national number must start with 3, 4, 8 or 9 — the Russian ranges.
``+7 6xx``/``+7 7xx`` belong to Kazakhstan and are rejected as 'prefix'.
"""

from __future__ import annotations

import re

from ._digits import strip_terminator
from .errors import InvalidIdentity

_SEPARATORS = re.compile(r"[\s\-\u2010\u2011\u2012\u2013\u2014\u2212.()]+")
_ASCII_DIGITS = re.compile(r"[0-9]+")
_RUSSIAN_FIRST_DIGITS = frozenset("3489")


def validate_phone(text: str) -> str:
    """Validate a Russian phone number and return it as ``+7XXXXXXXXXX``.

    Raises ``InvalidIdentity(kind='phone', ...)`` with reason 'empty',
    'not_digits', 'length', 'country' (not +7/8) or 'prefix' (not a Russian
    range).
    """
    body = _SEPARATORS.sub("", strip_terminator(text))
    has_plus = body.startswith("+")
    digits = body[1:] if has_plus else body
    if not digits:
        raise InvalidIdentity("phone", "empty", "phone number is empty")
    if not _ASCII_DIGITS.fullmatch(digits):
        raise InvalidIdentity(
            "phone", "not_digits", "phone number must contain only digits"
        )

    if has_plus:
        if not digits.startswith("7"):
            raise InvalidIdentity("phone", "country", "phone number must start with +7")
        if len(digits) != 11:
            raise InvalidIdentity(
                "phone",
                "length",
                f"phone number must have 11 digits after +, got {len(digits)}",
            )
        national = digits[1:]
    elif len(digits) == 11:
        if digits[0] not in "78":
            raise InvalidIdentity(
                "phone", "country", "11-digit phone number must start with 7 or 8"
            )
        national = digits[1:]
    elif len(digits) == 10:
        national = digits
    else:
        raise InvalidIdentity(
            "phone",
            "length",
            f"phone number must have 10 or 11 digits, got {len(digits)}",
        )

    if national[0] not in _RUSSIAN_FIRST_DIGITS:
        raise InvalidIdentity(
            "phone",
            "prefix",
            "phone number must be in a Russian range (3xx, 4xx, 8xx, 9xx)",
        )
    return "+7" + national
