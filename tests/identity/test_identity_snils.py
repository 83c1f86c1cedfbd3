from __future__ import annotations

import pytest

from ivr.identity import InvalidIdentity, validate_snils
from ivr.identity.snils import snils_check_value, snils_digits

# Commonly cited sample: 1*9+1*8+2*7+2*6+3*5+3*4+4*3+4*2+5*1 = 95 (< 100).
SAMPLE = "112-233-445 95"


@pytest.mark.parametrize(
    ("snils", "why"),
    [
        (SAMPLE, "sum 95 < 100: check is the sum"),
        ("123-456-789 64", "9+16+21+24+25+24+21+16+9 = 165 > 101: 165 % 101 = 64"),
        ("001-019-989 00", "7+5+36+27+16+9 = 100: check 00"),
        ("001-019-998 00", "7+5+36+27+18+8 = 101: check 00"),
        ("444-444-796 00", "4*39+7*3+9*2+6 = 201; 201 % 101 = 100: check 00"),
        ("999-999-999 01", "9*45 = 405; 405 % 101 = 1"),
    ],
)
def test_known_good(snils: str, why: str) -> None:
    assert validate_snils(snils) == snils, why


def test_check_value_helper() -> None:
    assert snils_check_value("112233445") == 95
    assert snils_check_value("444444796") == 0
    with pytest.raises(ValueError):
        snils_check_value("11223344")


@pytest.mark.parametrize(
    "text",
    [
        "11223344595",
        "11223344595#",
        "112-233-445 95",
        "112-233-445-95",
        "112 233 445 95",
        " 112 233 44595 # ",
    ],
)
def test_accepts_formats_and_returns_canonical(text: str) -> None:
    assert validate_snils(text) == SAMPLE


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("", "empty"),
        ("#", "empty"),
        ("112*233*445*95", "not_digits"),
        ("112.233.445 95", "not_digits"),
        ("112-233-445 9", "length"),
        ("112-233-445 951", "length"),
        ("000-000-000 00", "reserved"),
        ("000-000-000 17", "reserved"),
        ("112-233-445 96", "checksum"),
        ("123-456-789 00", "checksum"),
        ("001-001-999 00", "checksum"),
    ],
)
def test_reason_codes(text: str, reason: str) -> None:
    with pytest.raises(InvalidIdentity) as info:
        validate_snils(text)
    assert (info.value.kind, info.value.reason) == ("snils", reason)


@pytest.mark.parametrize("check", ["00", "17", "65", "99"])
def test_at_or_below_001_001_998_any_check_value_is_accepted(check: str) -> None:
    assert validate_snils(f"001-001-998 {check}") == f"001-001-998 {check}"
    assert validate_snils(f"000-000-001 {check}") == f"000-000-001 {check}"


def test_just_above_the_boundary_the_checksum_applies() -> None:
    # 001-001-999: 1*7 + 1*4 + 9*3 + 9*2 + 9*1 = 65
    assert validate_snils("001-001-999 65") == "001-001-999 65"
    with pytest.raises(InvalidIdentity) as info:
        validate_snils("001-001-999 64")
    assert info.value.reason == "checksum"


def test_snils_digits() -> None:
    assert snils_digits(SAMPLE) == "11223344595"
    assert snils_digits("11223344595#") == "11223344595"
    with pytest.raises(InvalidIdentity):
        snils_digits("112-233-445 96")


def test_single_digit_errors_the_checksum_cannot_see() -> None:
    # The check value is the sum mod 101 with 100 written as 00, so sums
    # 201 (== 100) and 202 (== 0) share "00": +1 on the last digit (weight 1)
    # goes unnoticed.
    assert validate_snils("444-444-797 00") == "444-444-797 00"
    # A corruption that lands at or below 001-001-998 is accepted too.
    assert validate_snils("001-001-998 65") == "001-001-998 65"  # 999 -> 998
