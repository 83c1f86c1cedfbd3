"""Masking of identifiers for logs and for views without authorisation.

One rule everywhere: every digit except the last four becomes '*', all
formatting characters stay where they were, and a leading "+7" country code
stays visible:

    mask_inn("770123456789")    -> "********6789"
    mask_snils("123-456-789 01") -> "***-***-*89 01"
    mask_phone("+79991234567")  -> "+7******4567"

The functions never raise, so they are safe inside logging code.
"""

from __future__ import annotations

import re

from .errors import InvalidIdentity
from .names import FullName, normalize_fio

_VISIBLE_TAIL = 4
_COUNTRY_CODE = "+7"


def _mask_digits(text: str) -> str:
    digit_count = sum(1 for ch in text if "0" <= ch <= "9")
    to_mask = digit_count - _VISIBLE_TAIL
    start = 0
    if text.startswith(_COUNTRY_CODE) and digit_count > _VISIBLE_TAIL:
        start, to_mask = len(_COUNTRY_CODE), to_mask - 1
    out = [text[:start]]
    for ch in text[start:]:
        if to_mask > 0 and "0" <= ch <= "9":
            out.append("*")
            to_mask -= 1
        else:
            out.append(ch)
    return "".join(out)


def mask_inn(inn: str) -> str:
    """Mask an ИНН: ``770123456789`` -> ``********6789``."""
    return _mask_digits(inn)


def mask_snils(snils: str) -> str:
    """Mask a СНИЛС: ``123-456-789 01`` -> ``***-***-*89 01``."""
    return _mask_digits(snils)


def mask_phone(phone: str) -> str:
    """Mask a phone: ``+79991234567`` -> ``+7******4567``.

    Formatting is kept: ``8 999 123-45-67`` -> ``* *** ***-45-67``.
    """
    return _mask_digits(phone)


def _initial(part: str) -> str:
    return f"{part[:1]}."


def _mask_surname(surname: str) -> str:
    return surname[:1] + "*" * (len(surname) - 1)


def mask_name(name: FullName | str) -> str:
    """Mask a ФИО: ``Иванов Иван Иванович`` -> ``И***** И. И.``.

    The surname keeps its first letter and one '*' per remaining character;
    the other parts become initials. A string is normalised with
    ``normalize_fio`` first; text that is not a valid ФИО is masked word by
    word the same way instead of raising.
    """
    if isinstance(name, FullName):
        parts = [name.surname, name.given]
        if name.patronymic:
            parts.append(name.patronymic)
    else:
        try:
            return mask_name(normalize_fio(name))
        except InvalidIdentity:
            parts = name.split()
    if not parts:
        return ""
    return " ".join([_mask_surname(parts[0]), *(f"{part[:1]}." for part in parts[1:])])


# --- free text -------------------------------------------------------------

# A candidate must not touch an ASCII letter or digit on either side, so runs
# inside hex ids, hashes or longer numbers (epoch milliseconds, card numbers)
# are not cut into pieces. Cyrillic letters do count as a boundary
# ("ИНН7707083893" is still masked).
_NB = r"(?<![0-9A-Za-z])"  # no alphanumeric before
_NA = r"(?![0-9A-Za-z])"  # no alphanumeric after
_HEX = "[0-9A-Fa-f]"
# Space, no-break space, narrow no-break space, hyphen and dash variants.
_SEP_CHARS = " \u00a0\u202f\\-\u2010\u2011\u2012\u2013"
_SEP = f"[{_SEP_CHARS}]"

_CANDIDATE = re.compile(
    # Cheap first-character guard: every alternative starts with one of these.
    r"(?=[+0-9A-Fa-f])(?:"
    # UUIDs (call ids) are matched first and left alone: their last group
    # may be twelve decimal digits.
    rf"(?P<uuid>(?<![0-9A-Za-z-]){_HEX}{{8}}(?:-{_HEX}{{4}}){{3}}-{_HEX}{{12}}(?![0-9A-Za-z-]))"
    # Phone: +7 or 8, then ten digits, each after at most two separators
    # or brackets.
    rf"|(?:\+7|(?<![0-9A-Za-z+])8)(?:[{_SEP_CHARS}()]{{0,2}}[0-9]){{10}}{_NA}"
    # СНИЛС in groups: 123-456-789 01, 123-456-789-01, 123 456 789 01.
    rf"|{_NB}[0-9]{{3}}{_SEP}[0-9]{{3}}{_SEP}[0-9]{{3}}{_SEP}[0-9]{{2}}{_NA}"
    # Bare runs of exactly 10, 11 or 12 digits: ИНН, СНИЛС, phone.
    rf"|{_NB}[0-9]{{10,12}}{_NA}"
    r")"
)


def _replace(match: re.Match[str]) -> str:
    if match.group("uuid") is not None:
        return match.group(0)
    return _mask_digits(match.group(0))


def mask_text(text: str) -> str:
    """Mask every ИНН-, СНИЛС- or phone-shaped number inside free text.

    Matching is by shape, not checksum: a mistyped ИНН is still personal data.
    Numbers shorter than ten digits (ports, queue positions, time parts) and
    longer than twelve are left alone. Note that any standalone 10-12 digit
    number is masked, including 10-digit epoch seconds and appeal numbers.
    """
    if len(text) < 10:  # nothing maskable fits
        return text
    return _CANDIDATE.sub(_replace, text)
