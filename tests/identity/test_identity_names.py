from __future__ import annotations

import unicodedata

import pytest

from ivr.identity import FullName, InvalidIdentity, normalize_fio


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("иванов иван иванович", FullName("Иванов", "Иван", "Иванович")),
        ("иванов иван", FullName("Иванов", "Иван", None)),
        ("  ИВАНОВ   иван  ", FullName("Иванов", "Иван")),
        ("иванов, иван иванович.", FullName("Иванов", "Иван", "Иванович")),
        (
            "салтыков-щедрин михаил евграфович",
            FullName("Салтыков-Щедрин", "Михаил", "Евграфович"),
        ),
        ("римский-корсаков николай", FullName("Римский-Корсаков", "Николай")),
        ("иванова анна-мария", FullName("Иванова", "Анна-Мария")),
        ("алиев рашид мамед оглы", FullName("Алиев", "Рашид", "Мамед оглы")),
        ("мамедова айгюль али кызы", FullName("Мамедова", "Айгюль", "Али кызы")),
        ("алиев рашид мамед-оглы", FullName("Алиев", "Рашид", "Мамед-оглы")),
        ("д'артаньян шарль", FullName("Д'артаньян", "Шарль")),
        ("smith john", FullName("Smith", "John")),
    ],
)
def test_normalises(text: str, expected: FullName) -> None:
    assert normalize_fio(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("фёдоров пётр семёнович", "Фёдоров Пётр Семёнович"),
        ("федоров петр семенович", "Федоров Петр Семенович"),  # never adds ё
        ("ёлкин артём", "Ёлкин Артём"),
        ("ЁЛКИН АРТЁМ", "Ёлкин Артём"),
        ("королёва алёна", "Королёва Алёна"),
    ],
)
def test_yo_is_kept_exactly_as_said(text: str, expected: str) -> None:
    assert str(normalize_fio(text)) == expected


def test_decomposed_yo_is_not_split() -> None:
    decomposed = unicodedata.normalize("NFD", "фёдоров пётр")
    assert decomposed != "фёдоров пётр"
    assert str(normalize_fio(decomposed)) == "Фёдоров Пётр"


def test_str() -> None:
    assert str(FullName("Иванов", "Иван", "Иванович")) == "Иванов Иван Иванович"
    assert str(FullName("Иванов", "Иван")) == "Иванов Иван"
    assert str(FullName("Алиев", "Рашид", "Мамед оглы")) == "Алиев Рашид Мамед оглы"


def test_is_frozen() -> None:
    name = FullName("Иванов", "Иван")
    with pytest.raises(AttributeError):
        name.surname = "Петров"  # type: ignore[misc]


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("", "empty"),
        (" ,. - ", "empty"),
        ("иванов", "too_few_parts"),
        ("иванов иван иванович петрович", "too_many_parts"),
        ("алиев оглы", "too_few_parts"),
        ("алиев рашид оглы", "too_few_parts"),  # the father's name is missing
        ("оглы алиев рашид", "too_few_parts"),
        ("алиев рашид мамед оглы оглы", "too_many_parts"),
        ("иванов иван 2", "has_digits"),
        ("иван0в иван", "has_digits"),
    ],
)
def test_rejects(text: str, reason: str) -> None:
    with pytest.raises(InvalidIdentity) as info:
        normalize_fio(text)
    assert (info.value.kind, info.value.reason) == ("name", reason)
