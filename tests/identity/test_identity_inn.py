from __future__ import annotations

import pytest

from ivr.identity import InvalidIdentity, validate_inn
from ivr.identity.inn import inn_check_digits, inn_kind, validate_person_inn

# Public, widely cited organisation ИНН (ПАО Сбербанк):
#   7,7,0,7,0,8,3,8,9 x 2,4,10,3,5,9,4,6,8
#   = 14+28+0+21+0+72+12+48+72 = 267; 267 % 11 = 3; 3 % 10 = 3 -> check 3.
SBERBANK = "7707083893"

# Synthetic (region "00" is never issued), computed by hand:
#   organisation body 001234567: 0+0+10+6+15+36+20+36+56 = 179; 179 % 11 = 3
ORG = "0012345673"
#   person body 0012345678:
#   n11: 0*7+0*2+1*4+2*10+3*3+4*5+5*9+6*4+7*6+8*8 = 228; 228 % 11 = 8
#   n12: 0*3+0*7+1*2+2*4+3*10+4*3+5*5+6*9+7*4+8*6+8*8 = 271; 271 % 11 = 7
PERSON = "001234567887"
#   remainder 10 becomes check digit 0: body 001000000 sums to 1*10 = 10.
ORG_REMAINDER_10 = "0010000000"


@pytest.mark.parametrize("inn", [SBERBANK, ORG, PERSON, ORG_REMAINDER_10])
def test_known_good(inn: str) -> None:
    assert validate_inn(inn) == inn


def test_check_digit_helper_matches_hand_computation() -> None:
    assert inn_check_digits("770708389") == "3"
    assert inn_check_digits("001234567") == "3"
    assert inn_check_digits("0012345678") == "87"
    assert inn_check_digits("001000000") == "0"
    with pytest.raises(ValueError):
        inn_check_digits("12345678")


@pytest.mark.parametrize(
    "text",
    [
        "7707083893#",  # DTMF terminator
        " 7707083893 # ",
        "7707 083 893",
        "77-07-083893",
        "7707\u2013083893",  # en dash from a form
        "\t7707083893\n",
    ],
)
def test_normalises_dtmf_spaces_and_dashes(text: str) -> None:
    assert validate_inn(text) == SBERBANK


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("", "empty"),
        ("   ", "empty"),
        ("#", "empty"),
        ("--", "empty"),
        ("7707*083893", "not_digits"),  # '*' is not a separator
        ("7707083893##", "not_digits"),  # only one trailing '#'
        ("#7707083893", "not_digits"),
        ("77070838９3", "not_digits"),  # fullwidth digit
        ("٧٧٠٧٠٨٣٨٩٣", "not_digits"),  # Arabic-Indic digits pass str.isdigit()
        ("ИНН 7707083893", "not_digits"),
        ("770708389", "length"),
        ("77070838931", "length"),
        ("0012345678871", "length"),
        ("0000000000", "reserved"),
        ("000000000000", "reserved"),
        ("7707083894", "checksum"),
        ("001234567888", "checksum"),  # second check digit wrong
        ("001234567897", "checksum"),  # first check digit wrong
    ],
)
def test_reason_codes(text: str, reason: str) -> None:
    with pytest.raises(InvalidIdentity) as info:
        validate_inn(text)
    assert info.value.kind == "inn"
    assert info.value.reason == reason


def test_length_message() -> None:
    with pytest.raises(
        InvalidIdentity, match=r"^ИНН must have 10 or 12 digits, got 9$"
    ):
        validate_inn("770708389")


def test_kind() -> None:
    assert inn_kind(PERSON) == "person"
    assert inn_kind(SBERBANK) == "organisation"
    with pytest.raises(InvalidIdentity):
        inn_kind("7707083894")


def test_person_inn_only_accepts_12_digits() -> None:
    assert validate_person_inn(PERSON + "#") == PERSON
    with pytest.raises(InvalidIdentity) as info:
        validate_person_inn(SBERBANK)
    assert info.value.reason == "length"
    assert str(info.value) == "personal ИНН must have 12 digits, got 10"
    with pytest.raises(InvalidIdentity) as info:
        validate_person_inn("001234567888")
    assert info.value.reason == "checksum"


def test_ten_digit_checksum_misses_some_single_digit_errors() -> None:
    # "% 11 % 10" folds remainders 10 and 0 onto the same check digit, so an
    # organisation ИНН does NOT catch every single-digit error. Here the first
    # digit 0 -> 6 adds 6*2 = 12: remainder 10 -> 1 ... 22 % 11 = 0, check 0.
    assert validate_inn("6010000000") == "6010000000"
