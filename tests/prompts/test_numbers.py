"""Every number the hotline says, 0 to 999 in Russian and English, from the product's own
prompts (issue 17, defect 15: Asterisk had no ``digits/100``; 206 minutes were "6 minutes")."""

from __future__ import annotations

from pathlib import Path

import pytest

from ivr.identity import spoken_digits
from ivr.prompts.build import build_prompts
from ivr.prompts.catalog import PromptCatalog, load_catalog
from ivr.prompts.numbers import (
    NUMBER_PROMPTS,
    digit_prompts,
    minutes_prompts,
    number_prompts,
    plural_form,
)

ROOT = Path(__file__).resolve().parents[2]
CATALOG, PROBLEMS = load_catalog(ROOT / "prompts")
LANGUAGES = ("ru", "en")


def words(ids: tuple[str, ...], language: str) -> str:
    texts = [CATALOG.text(prompt, language) for prompt in ids]
    assert None not in texts, (ids, language)
    return " ".join(t for t in texts if t)


def test_the_prompt_files_have_every_part_of_every_number() -> None:
    assert PROBLEMS == []
    for language in LANGUAGES:
        assert [p for p in NUMBER_PROMPTS if not CATALOG.has(p, language)] == []


@pytest.mark.parametrize("language", LANGUAGES)
def test_every_number_to_999_is_said_as_itself(language: str) -> None:
    # The recogniser's own reading of number words (ivr.identity.spoken) reads each back.
    for n in range(1000):
        said = words(number_prompts(n, language), language)
        assert spoken_digits(said, language) == str(n), (n, said)
        minutes = minutes_prompts(n, language)
        assert spoken_digits(words(minutes[:-1], language), language) == str(n), (n, minutes)
        assert minutes[-1] == f"unit.minute.{plural_form(n, language)}"


@pytest.mark.parametrize(("n", "position", "minutes"), [
    (0, "ноль", "ноль минут"),
    (1, "один", "одна минута"),
    (2, "два", "две минуты"),
    (4, "четыре", "четыре минуты"),
    (5, "пять", "пять минут"),
    (11, "одиннадцать", "одиннадцать минут"),
    (12, "двенадцать", "двенадцать минут"),
    (21, "двадцать один", "двадцать одна минута"),
    (22, "двадцать два", "двадцать две минуты"),
    (25, "двадцать пять", "двадцать пять минут"),
    (73, "семьдесят три", "семьдесят три минуты"),
    (100, "сто", "сто минут"),
    (101, "сто один", "сто одна минута"),
    (111, "сто одиннадцать", "сто одиннадцать минут"),
    (112, "сто двенадцать", "сто двенадцать минут"),
    (200, "двести", "двести минут"),
    (206, "двести шесть", "двести шесть минут"),
    (222, "двести двадцать два", "двести двадцать две минуты"),
    (999, "девятьсот девяносто девять", "девятьсот девяносто девять минут"),
])
def test_russian_numbers_and_minutes_take_the_right_forms(n: int, position: str, minutes: str) -> None:
    assert words(number_prompts(n, "ru"), "ru") == position
    assert words(minutes_prompts(n, "ru"), "ru") == minutes


@pytest.mark.parametrize(("n", "minutes"), [
    (1, "one minute"), (2, "two minutes"), (21, "twenty one minutes"),
    (101, "one hundred one minutes"), (206, "two hundred six minutes"), (999, "nine hundred ninety nine minutes"),
])
def test_english_minutes(n: int, minutes: str) -> None:
    assert words(minutes_prompts(n, "en"), "en") == minutes


def test_thousands_and_digits() -> None:
    assert words(number_prompts(1000, "ru"), "ru") == "одна тысяча"
    assert words(number_prompts(2021, "ru"), "ru") == "две тысячи двадцать один"
    assert words(number_prompts(5000, "ru"), "ru") == "пять тысяч"
    assert words(number_prompts(21_000, "en"), "en") == "twenty one thousand"
    assert words(digit_prompts("+7 900 105"), "ru") == "семь девять ноль ноль один ноль пять"


def test_prompts_build_renders_every_file_a_number_plays(tmp_path: Path) -> None:
    """What ``ivr prompts build`` writes holds the file of every part of every number."""
    only_numbers = PromptCatalog(texts={lang: {p: CATALOG.text(p, lang) or "" for p in NUMBER_PROMPTS}
                                        for lang in LANGUAGES})
    report = build_prompts(only_numbers, tmp_path, voices={"ru": "ru", "en": "en-gb"}, jobs=2)
    assert report.ok, report.failed
    for language in LANGUAGES:
        for n in range(1000):
            for part in (*number_prompts(n, language), *minutes_prompts(n, language)):
                assert (tmp_path / language / f"{part}.wav").stat().st_size > 1000, (language, n, part)
