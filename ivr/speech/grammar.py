"""What a caller may say at each kind of speech node, and what it means.

Vosk accepts a *grammar*: a JSON list of phrases the decoder may choose from.  A
restricted decoder is faster and far more accurate on telephone audio than free
dictation; ``"[unk]"`` is always added so that anything else comes back as
``[unk]`` instead of being forced onto the nearest listed word.  Free speech
(ФИО) gets no grammar.

Modes:

* ``yes_no``   — consent and confirmations:  ``interpret_yes_no`` -> True/False/None
* ``keywords`` — the topics of a menu node:  ``interpret_keyword`` -> option or None
* ``digits``   — ИНН, СНИЛС, appeal numbers spoken as words: ``interpret_digits`` -> "7701"
* ``free``     — anything (ФИО): the text as heard
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Literal

Mode = Literal["yes_no", "keywords", "digits", "free"]
MODES: tuple[Mode, ...] = ("yes_no", "keywords", "digits", "free")
UNKNOWN = "[unk]"

YES = {
    "ru": ("да", "ага", "угу", "конечно", "согласен", "согласна", "согласны", "верно",
           "правильно", "хорошо", "подтверждаю", "разрешаю"),
    "en": ("yes", "yeah", "yep", "sure", "agree", "i agree", "correct", "right", "okay"),
}  # fmt: skip
NO = {
    "ru": ("нет", "не согласен", "не согласна", "не согласны", "неверно", "неправильно",
           "отказываюсь", "против", "не разрешаю", "не надо"),
    "en": ("no", "nope", "disagree", "i do not agree", "i don't agree", "wrong", "not right"),
}  # fmt: skip
# A single word that turns an answer into "no" wherever it stands ("не согласен", "not right").
_NEGATIONS = {
    "ru": {"нет", "не", "неверно", "неправильно", "отказываюсь", "против"},
    "en": {"no", "nope", "not", "don't", "disagree", "wrong"},
}

_RU_NUMBERS: dict[str, int] = {
    "ноль": 0, "нуль": 0, "один": 1, "одна": 1, "одно": 1, "два": 2, "две": 2, "три": 3,
    "четыре": 4, "пять": 5, "шесть": 6, "семь": 7, "восемь": 8, "девять": 9,
    "десять": 10, "одиннадцать": 11, "двенадцать": 12, "тринадцать": 13,
    "четырнадцать": 14, "пятнадцать": 15, "шестнадцать": 16, "семнадцать": 17,
    "восемнадцать": 18, "девятнадцать": 19, "двадцать": 20, "тридцать": 30, "сорок": 40,
    "пятьдесят": 50, "шестьдесят": 60, "семьдесят": 70, "восемьдесят": 80,
    "девяносто": 90, "сто": 100, "двести": 200, "триста": 300, "четыреста": 400,
    "пятьсот": 500, "шестьсот": 600, "семьсот": 700, "восемьсот": 800, "девятьсот": 900,
}  # fmt: skip
_EN_NUMBERS: dict[str, int] = {
    "zero": 0, "oh": 0, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6,
    "seven": 7, "eight": 8, "nine": 9, "ten": 10, "eleven": 11, "twelve": 12,
    "thirteen": 13, "fourteen": 14, "fifteen": 15, "sixteen": 16, "seventeen": 17,
    "eighteen": 18, "nineteen": 19, "twenty": 20, "thirty": 30, "forty": 40, "fifty": 50,
    "sixty": 60, "seventy": 70, "eighty": 80, "ninety": 90,
}  # fmt: skip
_EN_EXTRA = ("hundred", "double", "triple")
NUMBER_WORDS = {"ru": _RU_NUMBERS, "en": _EN_NUMBERS}


def normalise(text: str) -> str:
    """Lower case, ё as е, words separated by single spaces, ``[unk]`` dropped."""
    words = re.findall(r"\[unk\]|[\w']+", text.lower().replace("ё", "е"))
    return " ".join(w for w in words if w != UNKNOWN)


def grammar_for(
    mode: Mode,
    language: str,
    keywords: Mapping[str, Sequence[str]] | Sequence[str] | None = None,
) -> list[str] | None:
    """The phrases Vosk may choose from in ``mode``; ``None`` for free speech."""
    lang = _base(language)
    if mode == "free":
        return None
    if mode == "yes_no":
        return _unique([*YES.get(lang, YES["en"]), *NO.get(lang, NO["en"])])
    if mode == "digits":
        extra = _EN_EXTRA if lang == "en" else ()
        return _unique([*NUMBER_WORDS.get(lang, _EN_NUMBERS), *extra])
    if mode == "keywords":
        if not keywords:
            raise ValueError("a keywords node needs its keywords")
        phrases = _phrases(keywords)
        # The model may spell a word with ё or with е; offer both, Vosk drops unknown words.
        return _unique([v for p in phrases for v in (p.lower(), p.lower().replace("ё", "е"))])
    raise ValueError(f"unknown speech mode {mode!r} (one of {', '.join(MODES)})")


def grammar_json(phrases: Iterable[str]) -> str:
    """The grammar string for ``KaldiRecognizer(model, rate, grammar)``, with ``[unk]``."""
    items = _unique([" ".join(p.split()) for p in phrases if p.strip()])
    if UNKNOWN not in items:
        items.append(UNKNOWN)
    return json.dumps(items, ensure_ascii=False)


def interpret_yes_no(text: str, language: str) -> bool | None:
    """``"да"`` -> True, ``"не согласен"`` -> False, ``""`` or ``"[unk]"`` -> None."""
    lang = _base(language)
    words = normalise(text).split()
    if not words:
        return None
    if any(w in _NEGATIONS.get(lang, _NEGATIONS["en"]) for w in words):
        return False
    spoken = " ".join(words)
    for phrase in YES.get(lang, YES["en"]):
        if _contains(spoken, phrase):
            return True
    return None


def interpret_keyword(text: str, options: Mapping[str, Sequence[str]]) -> str | None:
    """The option whose phrases the caller said most; None when nothing or a tie."""
    spoken = normalise(text)
    if not spoken:
        return None
    scores: dict[str, int] = {}
    for option, phrases in options.items():
        hits = sum(1 for p in phrases if _contains(spoken, normalise(p)))
        if hits:
            scores[option] = hits
    if not scores:
        return None
    best = max(scores.values())
    winners = [option for option, score in scores.items() if score == best]
    return winners[0] if len(winners) == 1 else None


def interpret_digits(text: str, language: str) -> str:
    """Number words to the digits a caller meant.

    ``"семь семь ноль один"`` -> ``"7701"``; ``"семьсот семьдесят один"`` -> ``"771"``;
    ``"двадцать пять ноль три"`` -> ``"2503"``; ``"double seven"`` -> ``"77"``.
    Words that are not numbers are skipped; the caller's number is checked
    (ИНН and СНИЛС checksums) by the menu, not here.
    """
    lang = _base(language)
    table = NUMBER_WORDS.get(lang, _EN_NUMBERS)
    out: list[str] = []
    group: int | None = None  # the number being built
    room = 0  # the largest value that may still be added to it (99 after "сто", 9 after "двадцать")
    repeat = 1

    def flush() -> None:
        nonlocal group, room
        if group is not None:
            out.append(str(group))
        group, room = None, 0

    for word in normalise(text).split():
        if lang == "en" and word in ("double", "triple"):
            flush()
            repeat = 2 if word == "double" else 3
            continue
        if lang == "en" and word == "hundred":
            if group is not None and 1 <= group <= 9:
                group, room = group * 100, 99
            else:
                flush()
                group, room = 100, 99
            continue
        value = table.get(word)
        if value is None:
            continue
        if repeat > 1:
            flush()
            out.append(str(value) * repeat)
            repeat = 1
            continue
        if value == 0:
            flush()
            out.append("0")
            continue
        if group is not None and value <= room and _fits(value, room):
            group += value
            room = 9 if value >= 20 and value % 10 == 0 else 0
            continue
        flush()
        group = value
        room = 99 if value >= 100 else 9 if value >= 20 and value % 10 == 0 else 0
    flush()
    return "".join(out)


def _fits(value: int, room: int) -> bool:
    # After a hundred (room 99): tens, teens or units; after a ten (room 9): units only.
    return room == 99 or value < 10


def _contains(spoken: str, phrase: str) -> bool:
    return f" {phrase} " in f" {spoken} "


def _phrases(keywords: Mapping[str, Sequence[str]] | Sequence[str]) -> list[str]:
    if isinstance(keywords, Mapping):
        return [p for phrases in keywords.values() for p in phrases]
    return list(keywords)


def _unique(items: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(items))


def _base(language: str) -> str:
    return language.lower().split("-")[0].split("_")[0]
