"""The consoles' words: every text in both languages, plural forms by one rule."""

from __future__ import annotations

import re

import pytest

from ivr.console.i18n import count, plural
from ivr.console.texts import TEXTS
from ivr.flow.words import plural_form

CYRILLIC = re.compile("[а-яА-ЯёЁ]")


def test_every_text_is_in_russian_and_in_english_and_only_in_its_language() -> None:
    for key, entry in TEXTS.items():
        assert set(entry) == {"ru", "en"}, key
        ru, en = entry["ru"], entry["en"]
        assert type(ru) is type(en), key
        if isinstance(ru, tuple):
            assert len(ru) == 3 and len(en) == 2, key  # ru: one, few, many; en: one, other
        if key == "nav.switch":  # the switch names the other language in that language
            continue
        for word in (en if isinstance(en, tuple) else (en,)):
            assert not CYRILLIC.search(word), (key, word)


@pytest.mark.parametrize(("n", "ru", "en"), [
    (0, "0 обратных звонков", "0 callbacks"), (1, "1 обратный звонок", "1 callback"),
    (2, "2 обратных звонка", "2 callbacks"), (4, "4 обратных звонка", "4 callbacks"),
    (5, "5 обратных звонков", "5 callbacks"), (11, "11 обратных звонков", "11 callbacks"),
    (12, "12 обратных звонков", "12 callbacks"), (21, "21 обратный звонок", "21 callbacks"),
    (22, "22 обратных звонка", "22 callbacks"), (111, "111 обратных звонков", "111 callbacks"),
    (1004, "1004 обратных звонка", "1004 callbacks"),
])
def test_counts_take_the_right_form(n: int, ru: str, en: str) -> None:
    assert count(n, "dash.callbacks", "ru") == ru
    assert count(n, "dash.callbacks", "en") == en


def test_the_spoken_and_the_written_forms_follow_one_rule() -> None:
    forms = ("час", "часа", "часов")
    assert [plural(n, forms, "ru") for n in (1, 3, 8, 20, 21, 23)] == [forms[plural_form(n, "ru")] for n in (1, 3, 8, 20, 21, 23)]


def test_a_time_written_by_the_server_reads_as_one_written_by_the_pages_scripts() -> None:
    """Seen: the blocked-accounts page said "2026-12-08 02:19:25" on an English page where
    every other time read "08/12/2026, 02:19:25" (the scripts' toLocaleString en-GB)."""
    from ivr.console.i18n import local_time

    at = 1796685565.0  # 2026-12-08 02:19:25 in Moscow
    assert local_time(at, "en", "Europe/Moscow") == "08/12/2026, 02:19:25"
    assert local_time(at, "ru", "Europe/Moscow") == "08.12.2026, 02:19:25"
