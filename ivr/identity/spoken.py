"""Spoken numbers from a speech recogniser -> a plain digit string.

Grouping rule (same for Russian and English):

* A *hundreds* group is a hundreds word ("сто".."девятьсот"; in English
  "hundred", optionally preceded by a non-zero unit: "one hundred") optionally
  followed by EITHER a teen ("сто двенадцать" -> 112), OR a tens word with an
  optional non-zero unit ("сто двадцать три" -> 123, "сто двадцать" -> 120),
  OR a non-zero unit ("сто три" -> 103). It always yields three digits.
* A *tens* group is a tens word with an optional non-zero unit
  ("двадцать три" -> 23, "двадцать" -> 20).
* A teen word is its two digits ("двенадцать" -> 12).
* A unit word is ONE digit, and "ноль"/"нуль"/"zero"/"oh" is always a single
  "0" that never fills a slot inside a group. So "двести ноль пять" ->
  "200" "0" "5" -> "20005". This is deliberate: callers dictate phone
  numbers as "двести, ноль пять, ноль семь" (200 05 07), and the recogniser
  often drops the commas.
* Digits already written as digits pass through unchanged and never combine
  with number words ("сто 23" -> "10023").
* English only: "double X" / "triple X" repeat a single digit X
  ("double seven" -> "77").

Filler words ("и", "э", "ну", "and", "uh", ...) are dropped and do not break
a group ("сто и пять" -> 105, "one hundred and five" -> 105). "плюс"/"plus" is
a filler too, so "плюс семь ..." yields "7...", which ``validate_phone``
accepts. Hyphens and dashes are ignored ("twenty-three" -> 23), while other
punctuation (",", ".", ";", ":", "!", "?") is dropped from the output but
ends the current group: "двести, пять" -> "2005", "двести пять" -> "205".

Any other word raises ``InvalidIdentity(kind='digits', reason='not_digits')``;
input without any digit raises reason 'empty'.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from .errors import InvalidIdentity

_TokenKind = Literal[
    "num", "unit", "teen", "tens", "hundreds", "hundred", "repeat", "break"
]


@dataclass(frozen=True, slots=True)
class _Token:
    kind: _TokenKind
    value: int = 0
    text: str = ""


@dataclass(frozen=True, slots=True)
class _Vocabulary:
    words: Mapping[str, tuple[_TokenKind, int]]
    fillers: frozenset[str]


def _kinds(
    kind: _TokenKind, words: Mapping[str, int]
) -> dict[str, tuple[_TokenKind, int]]:
    return {word: (kind, value) for word, value in words.items()}


_RU = _Vocabulary(
    words={
        **_kinds(
            "unit",
            {
                "ноль": 0, "нуль": 0,
                "один": 1, "одна": 1, "одно": 1,
                "два": 2, "две": 2,
                "три": 3, "четыре": 4, "пять": 5, "шесть": 6,
                "семь": 7, "восемь": 8, "девять": 9,
            },
        ),
        **_kinds(
            "teen",
            {
                "десять": 10, "одиннадцать": 11, "двенадцать": 12,
                "тринадцать": 13, "четырнадцать": 14, "пятнадцать": 15,
                "шестнадцать": 16, "семнадцать": 17, "восемнадцать": 18,
                "девятнадцать": 19,
            },
        ),
        **_kinds(
            "tens",
            {
                "двадцать": 20, "тридцать": 30, "сорок": 40, "пятьдесят": 50,
                "шестьдесят": 60, "семьдесят": 70, "восемьдесят": 80,
                "девяносто": 90,
            },
        ),
        **_kinds(
            "hundreds",
            {
                "сто": 100, "двести": 200, "триста": 300, "четыреста": 400,
                "пятьсот": 500, "шестьсот": 600, "семьсот": 700,
                "восемьсот": 800, "девятьсот": 900,
            },
        ),
    },
    fillers=frozenset(
        {"и", "а", "э", "ээ", "эээ", "эм", "мм", "ммм", "ну", "вот", "так",
         "значит", "это", "плюс"}
    ),
)  # fmt: skip

_EN = _Vocabulary(
    words={
        **_kinds(
            "unit",
            {
                "zero": 0, "oh": 0, "o": 0, "one": 1, "two": 2, "three": 3,
                "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8,
                "nine": 9,
            },
        ),
        **_kinds(
            "teen",
            {
                "ten": 10, "eleven": 11, "twelve": 12, "thirteen": 13,
                "fourteen": 14, "fifteen": 15, "sixteen": 16, "seventeen": 17,
                "eighteen": 18, "nineteen": 19,
            },
        ),
        **_kinds(
            "tens",
            {
                "twenty": 20, "thirty": 30, "forty": 40, "fifty": 50,
                "sixty": 60, "seventy": 70, "eighty": 80, "ninety": 90,
            },
        ),
        "hundred": ("hundred", 100),
        "double": ("repeat", 2),
        "triple": ("repeat", 3),
    },
    fillers=frozenset({"and", "a", "uh", "um", "er", "erm", "ah", "hmm", "plus"}),
)  # fmt: skip

_VOCABULARIES: Mapping[str, _Vocabulary] = {"ru": _RU, "en": _EN}

_TOKEN = re.compile(
    r"(?P<num>[0-9]+)|(?P<word>[^\W\d_]+)|(?P<brk>[,.;:!?\u2026]+)|(?P<other>\S)"
)


def _error(reason: Literal["not_digits", "empty"], message: str) -> InvalidIdentity:
    return InvalidIdentity("digits", reason, message)


def _tokenize(text: str, vocabulary: _Vocabulary) -> list[_Token]:
    # NFC joins a decomposed "й"/"ё" so the word is not split in two; the
    # digit words themselves never need "ё", so it is folded to "е" here.
    normalized = unicodedata.normalize("NFC", text).casefold().replace("ё", "е")
    tokens: list[_Token] = []
    for position, match in enumerate(_TOKEN.finditer(normalized), start=1):
        if (number := match.group("num")) is not None:
            tokens.append(_Token("num", text=number))
        elif (word := match.group("word")) is not None:
            if word in vocabulary.fillers:
                continue
            entry = vocabulary.words.get(word)
            if entry is None:
                raise _error("not_digits", f"unrecognised word at token {position}")
            tokens.append(_Token(entry[0], entry[1]))
        elif match.group("brk") is not None:
            tokens.append(_Token("break"))
        else:
            other = match.group("other")
            # Quotes, brackets, dashes ... are ignored; a non-ASCII digit is not.
            if unicodedata.category(other) == "Nd":
                raise _error("not_digits", f"non-ASCII digit at token {position}")
    return tokens


class _Parser:
    def __init__(self, tokens: list[_Token]) -> None:
        self._tokens = tokens
        self._pos = 0

    def _peek(self) -> _Token | None:
        return self._tokens[self._pos] if self._pos < len(self._tokens) else None

    def _take_if(self, *kinds: _TokenKind, nonzero: bool = False) -> _Token | None:
        token = self._peek()
        if token is None or token.kind not in kinds or (nonzero and token.value == 0):
            return None
        self._pos += 1
        return token

    def _tens_tail(self, value: int) -> int:
        unit = self._take_if("unit", nonzero=True)
        return value + (unit.value if unit else 0)

    def _hundreds_tail(self, value: int) -> int:
        if (teen := self._take_if("teen")) is not None:
            return value + teen.value
        if (tens := self._take_if("tens")) is not None:
            return self._tens_tail(value + tens.value)
        if (unit := self._take_if("unit", nonzero=True)) is not None:
            return value + unit.value
        return value

    def parse(self) -> str:
        out: list[str] = []
        while (token := self._peek()) is not None:
            self._pos += 1
            if token.kind == "num":
                out.append(token.text)
            elif token.kind == "unit":
                if token.value and self._take_if("hundred"):  # "one hundred ..."
                    out.append(str(self._hundreds_tail(token.value * 100)))
                else:
                    out.append(str(token.value))
            elif token.kind == "teen":
                out.append(str(token.value))
            elif token.kind == "tens":
                out.append(str(self._tens_tail(token.value)))
            elif token.kind in ("hundreds", "hundred"):
                out.append(str(self._hundreds_tail(token.value)))
            elif token.kind == "repeat":
                out.append(self._repeated_digit() * token.value)
            # "break" only ends the current group.
        return "".join(out)

    def _repeated_digit(self) -> str:
        token = self._peek()
        if token is not None and token.kind == "unit":
            self._pos += 1
            return str(token.value)
        if token is not None and token.kind == "num" and len(token.text) == 1:
            self._pos += 1
            return token.text
        raise _error("not_digits", "'double'/'triple' must be followed by one digit")


def spoken_digits(text: str, language: str = "ru") -> str:
    """Turn recogniser output such as "семь семь ноль один" into "7701".

    ``language`` is "ru" or "en" (a region suffix such as "ru-RU" is allowed).
    See the module docstring for the exact grouping rule.
    """
    code = language.replace("_", "-").split("-", 1)[0].lower()
    vocabulary = _VOCABULARIES.get(code)
    if vocabulary is None:
        raise ValueError(f"unsupported language {language!r}; expected 'ru' or 'en'")
    digits = _Parser(_tokenize(text, vocabulary)).parse()
    if not digits:
        raise _error("empty", "no digits were recognised")
    return digits
