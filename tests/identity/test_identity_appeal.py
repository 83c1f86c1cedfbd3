from __future__ import annotations

import pytest

from ivr.identity import InvalidIdentity, make_appeal_number, validate_appeal_number
from ivr.identity.appeal import luhn_check_digit


def test_luhn_reference_values() -> None:
    assert luhn_check_digit("7992739871") == 3  # Wikipedia's worked example
    assert luhn_check_digit("123456789") == 7
    assert luhn_check_digit("000000001") == 8  # 1 doubled = 2; 10 - 2 = 8


def test_make() -> None:
    assert make_appeal_number(1) == "0000000018"
    assert make_appeal_number(123456789) == "1234567897"
    assert make_appeal_number(999_999_999).startswith("999999999")


@pytest.mark.parametrize("bad", [0, -1, 1_000_000_000])
def test_make_rejects_out_of_range(bad: int) -> None:
    with pytest.raises(ValueError, match="sequence number"):
        make_appeal_number(bad)


def test_make_rejects_non_int() -> None:
    with pytest.raises(TypeError):
        make_appeal_number(True)


@pytest.mark.parametrize(
    "text", ["1234567897", "1234567897#", "123 456 789 7", "123-456-7897"]
)
def test_validate_accepts(text: str) -> None:
    assert validate_appeal_number(text) == "1234567897"


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("", "empty"),
        ("12345*67897", "not_digits"),
        ("123456789", "length"),
        ("12345678970", "length"),
        ("0000000000", "reserved"),
        ("1234567898", "checksum"),
        ("2134567897", "checksum"),  # adjacent swap
    ],
)
def test_reason_codes(text: str, reason: str) -> None:
    with pytest.raises(InvalidIdentity) as info:
        validate_appeal_number(text)
    assert (info.value.kind, info.value.reason) == ("appeal_number", reason)


def test_round_trip_and_every_single_digit_error_is_caught() -> None:
    for seq in (1, 42, 5_000_000, 123_456_789, 999_999_999):
        number = make_appeal_number(seq)
        assert validate_appeal_number(number) == number
        for i in range(10):
            for d in "0123456789":
                if d != number[i]:
                    with pytest.raises(InvalidIdentity):
                        validate_appeal_number(number[:i] + d + number[i + 1 :])
