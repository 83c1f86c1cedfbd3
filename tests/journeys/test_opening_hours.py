"""A citizen who picks a topic whose specialists are off now: when they start work is said
with the product's own number prompts (``number.*``), like every other number the menu says
(README, "Menus"), never Asterisk's ``SAY NUMBER`` and its ``digits/*`` sound files."""

from __future__ import annotations

import re

from tests.journeys.citizen import close_payments_for_now, hang_up, press, serve_ready, to_topics
from tests.journeys.product import Product

WORDS = {0: "ноль", 1: "один", 2: "два", 3: "три", 4: "четыре", 5: "пять", 6: "шесть", 7: "семь",
         8: "восемь", 9: "девять", 10: "десять", 11: "одиннадцать", 12: "двенадцать",
         13: "тринадцать", 14: "четырнадцать", 15: "пятнадцать", 16: "шестнадцать",
         17: "семнадцать", 18: "восемнадцать", 19: "девятнадцать", 20: "двадцать"}


def spoken(hour: int) -> str:
    """The prompts that say ``hour`` as the softphone shows them, a pattern."""
    unit = hour % 10
    if hour <= 20:
        return rf"♪ \[number\.{hour}\] {WORDS[hour]}"
    return rf"♪ \[number\.20\] двадцать\s*\n\s*♪ \[number\.{unit}\] {WORDS[unit]}"


def test_the_opening_hour_is_said_with_the_products_own_number_prompts(product: Product) -> None:
    opens = close_payments_for_now(product)
    serving = serve_ready(product)
    citizen = product.call(serving)
    to_topics(citizen)
    heard = press(citizen, "4", r"\[hours\.closed\]")  # payments: its specialists are off
    form = "час" if opens in (1, 21) else "часа" if opens % 10 in (2, 3, 4) and opens not in (12, 13, 14) else "часов"
    assert "(number)" not in heard, heard  # Asterisk's SAY NUMBER: its own recordings, not ours
    assert re.search(r"\[hours\.closed_now\].*\n.*Они начнут работу (сегодня|завтра) в\s*\n"
                     rf"\s*{spoken(opens)}\s*\n\s*♪ \[hours\.hour\.\w+\] {form}\b", heard), heard
    hang_up(citizen)
