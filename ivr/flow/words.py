"""Words callers say at the menu's questions, per language (yes/no, keywords)."""

from __future__ import annotations

import re
from collections.abc import Mapping

_YES = {
    "ru": ("да", "согласен", "согласна", "конечно", "хорошо", "ага", "разрешаю"),
    "en": ("yes", "yeah", "agree", "sure", "okay", "ok"),
}
_NO = {
    "ru": ("нет", "не согласен", "не согласна", "не надо", "не разрешаю", "против"),
    "en": ("no", "nope", "disagree", "don't"),
}
PLURAL_FORMS = ("one", "few", "many")


def plural_form(n: int, language: str) -> int:
    """Which plural form goes with ``n``: 0 one, 1 few, 2 many.

    Russian: 0 for 1, 21, 101 (not 11); 1 for 2-4, 22-24 (not 12-14); 2 otherwise
    ("1 час, 2 часа, 5 часов").  English: 0 for 1, else 2 ("1 minute, 2 minutes").
    The one rule the menu's announcements and the consoles' counts share.
    """
    n = abs(int(n))
    if language == "ru":
        if n % 10 == 1 and n % 100 != 11:
            return 0
        if 2 <= n % 10 <= 4 and not 12 <= n % 100 <= 14:
            return 1
        return 2
    return 0 if n == 1 else 2


_WORD = re.compile(r"[^\w\s'-]+")


def _clean(text: str) -> str:
    return " ".join(_WORD.sub(" ", text.lower()).split())


def yes_no_words(language: str) -> tuple[str, ...]:
    """The vocabulary of a yes/no question, for a grammar-restricted recogniser."""
    words: list[str] = []
    for phrase in (*_YES.get(language, ()), *_NO.get(language, ())):
        for word in phrase.split():
            if word not in words:
                words.append(word)
    return tuple(words)


def interpret_yes_no(text: str, language: str) -> bool | None:
    """``True`` for yes, ``False`` for no, ``None`` when it is neither (or both)."""
    said = f" {_clean(text)} "
    no = any(f" {phrase} " in said for phrase in _NO.get(language, ()))
    if no:
        return False
    yes = any(f" {phrase} " in said for phrase in _YES.get(language, ()))
    return True if yes else None


def match_keyword(text: str, keywords: Mapping[str, str]) -> str | None:
    """The value of the first keyword found in ``text`` (longest keywords first)."""
    said = f" {_clean(text)} "
    for keyword in sorted(keywords, key=len, reverse=True):
        cleaned = _clean(keyword)
        if cleaned and (f" {cleaned} " in said or (len(cleaned) >= 5 and cleaned[:-1] in said)):
            return keywords[keyword]
    return None
