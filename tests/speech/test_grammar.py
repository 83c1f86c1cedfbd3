from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ivr.speech.grammar import (
    NUMBER_WORDS,
    grammar_for,
    grammar_json,
    interpret_digits,
    interpret_keyword,
    interpret_yes_no,
)

RU_DIGITS = ["ноль", "один", "два", "три", "четыре", "пять", "шесть", "семь", "восемь", "девять"]
EN_DIGITS = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]


def test_grammar_json_is_what_kaldi_recognizer_takes_and_always_has_unk() -> None:
    phrases = grammar_for("yes_no", "ru")
    assert phrases is not None and {"да", "нет", "согласен", "не согласна"} <= set(phrases)
    parsed = json.loads(grammar_json(phrases))
    assert parsed[-1] == "[unk]" and parsed.count("[unk]") == 1
    assert "да" in grammar_json(["да"])  # UTF-8 kept, not \u-escaped
    assert json.loads(grammar_json(["  тема   оплата ", "", "[unk]"])) == ["тема оплата", "[unk]"]


def test_grammars_per_mode() -> None:
    assert grammar_for("free", "ru") is None
    digits = grammar_for("digits", "ru")
    assert digits is not None and set(RU_DIGITS) <= set(digits) and "девятьсот" in digits
    en = grammar_for("digits", "en-GB")
    assert en is not None and "double" in en and "oh" in en
    topics = grammar_for("keywords", "ru", {"payments": ["Платёж", "оплата"], "status": ["статус"]})
    assert topics == ["платёж", "платеж", "оплата", "статус"]
    with pytest.raises(ValueError, match="needs its keywords"):
        grammar_for("keywords", "ru")


@pytest.mark.parametrize(
    ("text", "lang", "expected"),
    [
        ("да", "ru", True),
        ("ну да конечно", "ru", True),
        ("согласна", "ru", True),
        ("нет", "ru", False),
        ("не согласен", "ru", False),
        ("да нет", "ru", False),  # Russian: "да нет" is a no
        ("", "ru", None),
        ("[unk]", "ru", None),
        ("[unk] [unk]", "ru", None),
        ("yes", "en", True),
        ("I do not agree", "en", False),
        ("banana", "en", None),
    ],
)
def test_yes_no(text: str, lang: str, expected: bool | None) -> None:
    assert interpret_yes_no(text, lang) is expected


def test_keyword_picks_the_option_and_refuses_ties() -> None:
    options = {"payments": ["оплата", "платёж"], "status": ["статус заявления", "статус"]}
    assert interpret_keyword("у меня вопрос про платеж", options) == "payments"
    assert interpret_keyword("статус заявления", options) == "status"
    assert interpret_keyword("оплата статус", options) is None
    assert interpret_keyword("[unk]", options) is None


@pytest.mark.parametrize(
    ("text", "lang", "digits"),
    [
        ("семь семь ноль один", "ru", "7701"),
        ("семьсот семьдесят один", "ru", "771"),
        ("сто двенадцать", "ru", "112"),
        ("двадцать пять ноль три", "ru", "2503"),
        ("одиннадцать два", "ru", "112"),
        ("двадцать двадцать", "ru", "2020"),
        ("две тысячи", "ru", "2"),  # not a digit word: skipped
        ("семь [unk] один", "ru", "71"),
        ("double seven oh one", "en", "7701"),
        ("seven hundred seventy one", "en", "771"),
        ("", "ru", ""),
    ],
)
def test_digits(text: str, lang: str, digits: str) -> None:
    assert interpret_digits(text, lang) == digits


@given(st.text(alphabet="0123456789", min_size=1, max_size=14), st.sampled_from(["ru", "en"]))
def test_digits_said_one_by_one_round_trip(number: str, lang: str) -> None:
    words = RU_DIGITS if lang == "ru" else EN_DIGITS
    assert interpret_digits(" ".join(words[int(d)] for d in number), lang) == number


def test_every_digit_word_is_in_the_digits_grammar() -> None:
    for lang, table in NUMBER_WORDS.items():
        grammar = grammar_for("digits", lang)
        assert grammar is not None and set(table) <= set(grammar)
