"""Shared clean-up of keyed, DTMF or transcribed digit strings."""

from __future__ import annotations

import re

from .errors import IdentityKind, InvalidIdentity

# Separators a person or a form may put between digit groups: any whitespace
# and hyphen/dash variants. Everything else (including '*' and a '#' that is
# not the trailing DTMF terminator) is rejected as 'not_digits'.
_SEPARATORS = re.compile(r"[\s\-\u2010\u2011\u2012\u2013\u2014\u2212]+")
_ASCII_DIGITS = re.compile(r"[0-9]+")


def strip_terminator(text: str) -> str:
    """Remove surrounding whitespace and one trailing DTMF '#' terminator."""
    text = text.strip()
    if text.endswith("#"):
        text = text[:-1].rstrip()
    return text


def clean_digits(text: str, kind: IdentityKind, label: str) -> str:
    """Return the ASCII digits of ``text`` or raise ``InvalidIdentity``.

    Only ASCII 0-9 are digits: ``str.isdigit`` would also accept e.g.
    Arabic-Indic or superscript digits, which no keypad produces.
    """
    body = _SEPARATORS.sub("", strip_terminator(text))
    if not body:
        raise InvalidIdentity(kind, "empty", f"{label} is empty")
    if not _ASCII_DIGITS.fullmatch(body):
        raise InvalidIdentity(kind, "not_digits", f"{label} must contain only digits")
    return body


def is_all_zero(digits: str) -> bool:
    return digits.strip("0") == ""
