"""ФИО (full name) normalisation for recogniser output.

Rules:

* NFC-normalise (a decomposed "ё"/"й" would otherwise split the word), then
  every character that is not a letter, a digit or a hyphen separates parts.
* Apostrophes inside a part are kept ("д'артаньян" -> "Д'артаньян").
* Each part is capitalised; hyphenated parts are capitalised piecewise
  ("салтыков-щедрин" -> "Салтыков-Щедрин").
* "ё" and "е" are kept exactly as recognised: no substitution either way.
* Two parts: surname + given name. Three: + patronymic.
* Turkic patronymic particles ("оглы", "кызы", "улы", "уулу", "гызы") stay
  lowercase and belong to the patronymic: "алиев рашид мамед оглы" ->
  patronymic "Мамед оглы". A particle is only accepted in that position.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

from .errors import InvalidIdentity

PATRONYMIC_PARTICLES = frozenset({"оглы", "кызы", "улы", "уулу", "гызы"})

_HYPHENS = re.compile(r"[\u2010\u2011]")
_APOSTROPHES = re.compile(r"[\u2019\u02bc]")
_NOT_NAME_CHAR = re.compile(r"[^\w\-']|_")
_HAS_DIGIT = re.compile(r"\d")


@dataclass(frozen=True, slots=True)
class FullName:
    surname: str
    given: str
    patronymic: str | None = None

    def __str__(self) -> str:
        parts = (self.surname, self.given, self.patronymic)
        return " ".join(part for part in parts if part)


def _capitalise_piece(piece: str) -> str:
    if piece.casefold() in PATRONYMIC_PARTICLES:
        return piece.lower()
    return piece[:1].upper() + piece[1:].lower()


def _capitalise(part: str) -> str:
    pieces = [stripped for piece in part.split("-") if (stripped := piece.strip("'"))]
    return "-".join(_capitalise_piece(piece) for piece in pieces)


def normalize_fio(text: str) -> FullName:
    """Normalise "иванов иван иванович" to ``FullName('Иванов', 'Иван', 'Иванович')``.

    Raises ``InvalidIdentity(kind='name', ...)`` with reason 'empty',
    'has_digits', 'too_few_parts' or 'too_many_parts'.
    """
    normalized = unicodedata.normalize("NFC", text)
    normalized = _APOSTROPHES.sub("'", _HYPHENS.sub("-", normalized))
    if _HAS_DIGIT.search(normalized):
        raise InvalidIdentity("name", "has_digits", "a name part contains digits")
    parts = [
        capitalised
        for raw in _NOT_NAME_CHAR.sub(" ", normalized).split()
        if (capitalised := _capitalise(raw))
    ]
    if not parts:
        raise InvalidIdentity("name", "empty", "name is empty")

    # Attach trailing particles ("Мамед" + "оглы") to the preceding part.
    merged: list[str] = []
    particle_indices: list[int] = []
    for part in parts:
        if part in PATRONYMIC_PARTICLES and merged:
            merged[-1] = f"{merged[-1]} {part}"
            particle_indices.append(len(merged) - 1)
        else:
            merged.append(part)

    if len(merged) < 2:
        raise InvalidIdentity(
            "name",
            "too_few_parts",
            f"name needs a surname and a given name, got {len(merged)} part(s)",
        )
    if len(merged) > 3:
        raise InvalidIdentity(
            "name", "too_many_parts", f"name has at most 3 parts, got {len(merged)}"
        )
    if len(particle_indices) > 1:
        raise InvalidIdentity(
            "name", "too_many_parts", "more than one 'оглы'/'кызы' particle"
        )
    # A particle may only complete the patronymic (the third part); elsewhere
    # the father's name is missing ("алиев рашид оглы").
    if any(index != 2 for index in particle_indices) or (
        merged[0] in PATRONYMIC_PARTICLES
    ):
        raise InvalidIdentity(
            "name", "too_few_parts", "'оглы'/'кызы' must follow the father's name"
        )
    return FullName(merged[0], merged[1], merged[2] if len(merged) == 3 else None)
