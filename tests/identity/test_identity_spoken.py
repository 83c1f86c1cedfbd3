from __future__ import annotations

import pytest

from ivr.identity import InvalidIdentity, spoken_digits


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("семь семь ноль один", "7701"),
        ("ноль", "0"),
        ("нуль нуль семь", "007"),
        ("один одна одно", "111"),
        ("два две", "22"),
        ("три четыре пять шесть семь восемь девять", "3456789"),
        ("десять", "10"),
        ("одиннадцать девятнадцать", "1119"),
        ("двадцать три", "23"),
        ("двадцать", "20"),
        ("сорок ноль", "400"),  # "ноль" never fills a slot
        ("девяносто девять", "99"),
        ("сто двадцать три", "123"),
        ("сто", "100"),
        ("сто три", "103"),
        ("сто двенадцать", "112"),
        ("сто двадцать", "120"),
        ("девятьсот девяносто девять", "999"),
        ("двести ноль пять", "20005"),  # 200, 0, 5 — see module docstring
        ("двести пять", "205"),
        ("двести, пять", "2005"),  # punctuation ends a group
        ("двести двести", "200200"),
        ("двадцать одиннадцать", "2011"),
        # A phone number dictated in the usual 3-3-2-2 groups.
        (
            "восемь девятьсот девяносто девять сто двадцать три сорок пять шестьдесят семь",
            "89991234567",
        ),
        (
            "восемь восемьсот пятьсот пятьдесят пять тридцать пять тридцать пять",
            "88005553535",
        ),
        ("девятьсот девяносто девять, двести, ноль пять, ноль семь", "9992000507"),
        ("плюс семь девятьсот девяносто девять", "7999"),
        # Digits pass through and never merge with words.
        ("77 01", "7701"),
        ("7701", "7701"),
        ("сто 23", "10023"),
        ("семь-семь-ноль-один", "7701"),
        ("двадцать-три", "23"),
        # Fillers, punctuation, case, ё.
        ("ну э семь, семь... ноль — один!", "7701"),
        ("сто и пять", "105"),
        ("Семь СЕМЬ", "77"),
        ("«семь» (семь)", "77"),
        ("ну вот значит это так семь", "7"),
    ],
)
def test_russian(text: str, expected: str) -> None:
    assert spoken_digits(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("seven seven oh one", "7701"),
        ("zero o oh", "000"),
        ("one hundred twenty three", "123"),
        ("one hundred and twenty-three", "123"),
        ("one hundred and five", "105"),
        ("a hundred", "100"),
        ("hundred", "100"),
        ("nine hundred ninety nine", "999"),
        ("two hundred twelve", "212"),
        ("twenty three", "23"),
        ("twenty-three", "23"),
        ("nineteen ninety", "1990"),
        ("double seven", "77"),
        ("triple five", "555"),
        ("double oh seven", "007"),
        ("double 7", "77"),
        ("four double two, uh, five", "4225"),
        ("Plus Seven Nine", "79"),
        ("zero hundred", "0100"),
    ],
)
def test_english(text: str, expected: str) -> None:
    assert spoken_digits(text, "en") == expected


def test_region_suffix_in_language_code() -> None:
    assert spoken_digits("двадцать три", "ru-RU") == "23"
    assert spoken_digits("twenty three", "en_GB") == "23"


def test_unsupported_language() -> None:
    with pytest.raises(ValueError, match="unsupported language"):
        spoken_digits("один", "de")


@pytest.mark.parametrize(
    ("text", "language"),
    [
        ("семь восемь мама", "ru"),
        ("две тысячи пять", "ru"),  # "тысяча" is not a digit-group word
        ("seven seven", "ru"),  # no cross-language words
        ("семь", "en"),
        ("seven eleventy", "en"),
        ("double", "en"),
        ("double twenty", "en"),
        ("double 77", "en"),
        ("семь ٣", "ru"),  # non-ASCII digit
    ],
)
def test_unknown_words_raise_not_digits(text: str, language: str) -> None:
    with pytest.raises(InvalidIdentity) as info:
        spoken_digits(text, language)
    assert (info.value.kind, info.value.reason) == ("digits", "not_digits")


@pytest.mark.parametrize("text", ["", "   ", "ну э", ", . —"])
def test_nothing_said_is_empty(text: str) -> None:
    with pytest.raises(InvalidIdentity) as info:
        spoken_digits(text)
    assert (info.value.kind, info.value.reason) == ("digits", "empty")


def test_feeds_the_validators() -> None:
    from ivr.identity import validate_inn, validate_phone

    inn = spoken_digits(
        "семьдесят семь ноль семь ноль восемь тридцать восемь девяносто три"
    )
    assert validate_inn(inn) == "7707083893"
    phone = spoken_digits(
        "плюс семь восемьсот пятьсот пятьдесят пять тридцать пять тридцать пять"
    )
    assert validate_phone(phone) == "+78005553535"
