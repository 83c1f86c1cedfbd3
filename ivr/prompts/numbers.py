"""Numbers as the hotline says them: prompt ids the product renders itself, in order.

Every number a caller hears (a place in the queue, minutes to wait, the digits of an
ИНН, a phone or an appeal number) is a sequence of short prompts from
``prompts/<lang>.yaml`` (``number.*``, ``unit.*``), rendered by ``ivr prompts build``
like every other prompt.  Nothing depends on Asterisk's stock ``digits/*`` sounds (the
Russian set has no ``digits/100``, ``digits/200``; the English set is not installed by
the guide) nor on a front end's own number reading, so Asterisk, Twilio and the
softphone say the same words.

    number_prompts(206, "ru")                -> number.200 number.6          двести шесть
    minutes_prompts(21, "ru")                -> number.20 number.1f unit.minute.one
                                                                             двадцать одна минута
    minutes_prompts(22, "ru")                -> ... number.2f unit.minute.few      две минуты
    minutes_prompts(25, "en")                -> number.20 number.5 unit.minute.many
    digit_prompts("0042")                    -> number.0 number.0 number.4 number.2

Russian word forms: a count agrees with its noun by the last two digits
(:func:`plural_form`: 1, 21, 101 -> one «минута»; 2-4, 22-24 -> few «минуты»; 0, 5-20,
25-30, 111-114 -> many «минут»), and a feminine noun (минута, тысяча) takes «одна», «две»
for a final 1 or 2 outside the teens.  English has "one" and "many" (few = many).
Up to 999 999; larger numbers are said digit by digit.
"""

from __future__ import annotations

from typing import Literal

PluralForm = Literal["one", "few", "many"]
FEMININE_NOUNS = frozenset({"minute", "thousand"})  # in Russian: минута, тысяча
LARGEST = 999_999

# Every prompt id a number may use, in the order a prompts file lists them.
NUMBER_PROMPTS: tuple[str, ...] = (
    *(f"number.{n}" for n in range(20)),
    *(f"number.{n}" for n in range(20, 100, 10)),
    *(f"number.{n}" for n in range(100, 1000, 100)),
    "number.1f",
    "number.2f",
    *(f"unit.thousand.{form}" for form in ("one", "few", "many")),
    *(f"unit.minute.{form}" for form in ("one", "few", "many")),
)


def plural_form(n: int, language: str) -> PluralForm:
    """The noun form a count takes: «1 минута», «2 минуты», «5 минут»; "1 minute", "2 minutes"."""
    n = abs(n)
    if language != "ru":
        return "one" if n == 1 else "many"
    if n % 10 == 1 and n % 100 != 11:
        return "one"
    if 2 <= n % 10 <= 4 and not 12 <= n % 100 <= 14:
        return "few"
    return "many"


def _below_thousand(n: int, *, feminine: bool) -> list[str]:
    """0 < n < 1000, or n == 0 said as «ноль»."""
    if n == 0:
        return ["number.0"]
    parts: list[str] = []
    hundreds, rest = divmod(n, 100)
    if hundreds:
        parts.append(f"number.{hundreds * 100}")
    if 10 <= rest <= 19:
        parts.append(f"number.{rest}")
        return parts
    tens, unit = divmod(rest, 10)
    if tens:
        parts.append(f"number.{tens * 10}")
    if unit:
        parts.append(f"number.{unit}f" if feminine and unit in (1, 2) else f"number.{unit}")
    return parts


def number_prompts(n: int, language: str, *, feminine: bool = False) -> tuple[str, ...]:
    """A cardinal number, 0 to 999 999 (``feminine``: agreeing with a feminine noun)."""
    if n < 0 or n > LARGEST:
        return digit_prompts(str(abs(n)))
    thousands, rest = divmod(n, 1000)
    parts: list[str] = []
    if thousands:
        parts += _below_thousand(thousands, feminine=language == "ru")
        parts.append(f"unit.thousand.{plural_form(thousands, language)}")
        if rest == 0:
            return tuple(parts)
    parts += _below_thousand(rest, feminine=feminine and language == "ru")
    return tuple(parts)


def count_prompts(n: int, noun: str, language: str) -> tuple[str, ...]:
    """A count and its noun in the right form: ``unit.<noun>.<form>`` follows the number."""
    feminine = noun in FEMININE_NOUNS
    return (*number_prompts(n, language, feminine=feminine), f"unit.{noun}.{plural_form(n, language)}")


def minutes_prompts(n: int, language: str) -> tuple[str, ...]:
    return count_prompts(n, "minute", language)


def digit_prompts(digits: str) -> tuple[str, ...]:
    """Each digit on its own (a ИНН, a phone, an appeal number); other characters are skipped."""
    return tuple(f"number.{ch}" for ch in digits if ch.isdigit())
