from __future__ import annotations

import pytest

from ivr.identity import InvalidIdentity, validate_phone


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("+79991234567", "+79991234567"),
        ("+7 (999) 123-45-67", "+79991234567"),
        ("89991234567", "+79991234567"),
        ("8 (999) 123-45-67", "+79991234567"),
        ("79991234567", "+79991234567"),
        ("9991234567", "+79991234567"),
        ("89991234567#", "+79991234567"),
        ("8 800 555-35-35", "+78005553535"),  # the hotline itself
        ("8005553535", "+78005553535"),
        ("+7 495 123.45.67", "+74951234567"),
        ("(3812) 12-34-56", "+73812123456"),
        ("4951234567", "+74951234567"),
    ],
)
def test_accepts(text: str, expected: str) -> None:
    assert validate_phone(text) == expected


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("", "empty"),
        ("+", "empty"),
        ("#", "empty"),
        ("8*999*123*45*67", "not_digits"),
        ("+7999123456a", "not_digits"),
        ("7+9991234567", "not_digits"),
        ("+1 202 555 0100", "country"),
        ("19991234567", "country"),
        ("+7999123456", "length"),
        ("+799912345678", "length"),
        ("999123456", "length"),
        ("899912345678", "length"),
        ("+77011234567", "prefix"),  # Kazakhstan shares +7
        ("87011234567", "prefix"),
        ("5991234567", "prefix"),
        ("2991234567", "prefix"),
    ],
)
def test_reason_codes(text: str, reason: str) -> None:
    with pytest.raises(InvalidIdentity) as info:
        validate_phone(text)
    assert (info.value.kind, info.value.reason) == ("phone", reason)
