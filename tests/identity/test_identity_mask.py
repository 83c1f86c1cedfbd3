from __future__ import annotations

import time

import pytest

from ivr.identity import (
    FullName,
    mask_inn,
    mask_name,
    mask_phone,
    mask_snils,
    mask_text,
)


def test_mask_inn() -> None:
    assert mask_inn("770123456789") == "********6789"
    assert mask_inn("7707083893") == "******3893"


def test_mask_snils_follows_the_logging_rule() -> None:
    assert mask_snils("123-456-789 01") == "***-***-*89 01"
    assert mask_snils("12345678901") == "*******8901"


def test_mask_phone() -> None:
    assert mask_phone("+79991234567") == "+7******4567"
    assert mask_phone("+7 (999) 123-45-67") == "+7 (***) ***-45-67"
    assert mask_phone("8 999 123-45-67") == "* *** ***-45-67"


def test_maskers_never_raise_on_odd_input() -> None:
    assert mask_inn("") == ""
    assert mask_inn("123") == "123"
    assert mask_phone("+7") == "+7"
    assert mask_snils("n/a") == "n/a"


def test_mask_name() -> None:
    assert mask_name("Иванов Иван Иванович") == "И***** И. И."
    assert mask_name(FullName("Иванов", "Иван", "Иванович")) == "И***** И. И."
    assert mask_name("иванов иван") == "И***** И."
    assert mask_name("Салтыков-Щедрин Михаил") == "С************** М."
    assert mask_name("алиев рашид мамед оглы") == "А**** Р. М."
    assert mask_name("Фёдоров Пётр") == "Ф****** П."


def test_mask_name_falls_back_instead_of_raising() -> None:
    assert mask_name("Иванов") == "И*****"
    assert mask_name("Агент 007") == "А**** 0."
    assert mask_name("") == ""


LOG_LINE = (
    "2024-05-01T12:30:45.123+03:00 INFO [ivr.session] pid=12345 "
    "call=550e8400-e29b-41d4-a716-446655440000 sip=10.0.0.12:5060 port 8080 "
    "queue position 17 wait 1834 ms; caller +7 (999) 123-45-67 said "
    "ИНН 001234567887, СНИЛС 112-233-445 95, alt 89997654321, "
    "org=7707083893 ts_ms=1714567890123 elapsed 00:01:23"
)
MASKED = (
    "2024-05-01T12:30:45.123+03:00 INFO [ivr.session] pid=12345 "
    "call=550e8400-e29b-41d4-a716-446655440000 sip=10.0.0.12:5060 port 8080 "
    "queue position 17 wait 1834 ms; caller +7 (***) ***-45-67 said "
    "ИНН ********7887, СНИЛС ***-***-*45 95, alt *******4321, "
    "org=******3893 ts_ms=1714567890123 elapsed 00:01:23"
)


def test_mask_text_on_a_realistic_log_line() -> None:
    assert mask_text(LOG_LINE) == MASKED


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("inn:7707083893", "inn:******3893"),
        ("ИНН7707083893", "ИНН******3893"),  # Cyrillic label glued on
        ("(7707083893)", "(******3893)"),
        ("snils=11223344595.", "snils=*******4595."),
        ("snils 112 233 445 95", "snils *** *** *45 95"),
        ("snils 112-233-445-95", "snils ***-***-*45-95"),
        ("tel 8-999-123-45-67", "tel *-***-***-45-67"),
        ("tel 8(999)1234567", "tel *(***)***4567"),
        ("tel +79991234567;", "tel +7******4567;"),
        ("8 800 555 35 35", "* *** *** 35 35"),
        (
            "+7\u00a0999\u00a0123\u201145\u201167",
            "+7\u00a0***\u00a0***\u201145\u201167",
        ),
        ("snils 112\u2011233\u2011445\u00a095", "snils ***\u2011***\u2011*45\u00a095"),
        ("a\n7707083893\nb", "a\n******3893\nb"),
    ],
)
def test_mask_text_finds(text: str, expected: str) -> None:
    assert mask_text(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "queue position 17, port 8080, pid 123456789",
        "2024-05-01 12:30:45,123 took 1834 ms",
        "2024-05-01T12:30:45.123456+03:00",
        "ts_ms=1714567890123",  # 13 digits: longer than any identifier
        "card 4111111111111111",  # 16 digits
        "trace 4bf92f3577b34da6a3ce1234567890e0e4736a",  # 10-digit run inside a hex id
        "call 550e8400-e29b-41d4-a716-446655440000",  # 12-digit UUID tail
        "8080 8443 5060",
        "version 1.2.3456789012a",
        "",
        "short",
    ],
)
def test_mask_text_leaves_other_numbers(text: str) -> None:
    assert mask_text(text) == text


def test_mask_text_is_linear_on_adversarial_input() -> None:
    # Many almost-phones and digit runs one short of a match.
    text = "8 (999) 123-45-6 " * 5_000 + "123456789 " * 5_000 + "8" * 50_000
    start = time.perf_counter()
    mask_text(text)
    assert time.perf_counter() - start < 2.0
