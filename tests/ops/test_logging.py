"""JSON log lines with the call id, and personal data masked in every part of a record."""

from __future__ import annotations

import io
import json
import logging
import threading
from collections.abc import Iterator

import pytest

from ivr.flow.context import CallContext, SpokenName
from ivr.identity import synthetic_inn, synthetic_snils
from ivr.ops.context import call_scope, current_call_id, remember_personal
from ivr.ops.logging import configure_logging

INN = synthetic_inn(901)
SNILS = synthetic_snils(901)
SNILS_DIGITS = SNILS.replace("-", "").replace(" ", "")
PHONE = "+79990009901"
NAME = "Синтетиков Тестомир Проверович"


@pytest.fixture
def lines() -> Iterator[io.StringIO]:
    stream = io.StringIO()
    handler = configure_logging(stream=stream, level=logging.DEBUG)
    yield stream
    logging.getLogger().removeHandler(handler)


def records(stream: io.StringIO) -> list[dict[str, object]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def assert_clean(text: str) -> None:
    for secret in (INN, SNILS, SNILS_DIGITS, PHONE, PHONE[1:], *NAME.split()):
        assert secret not in text, secret


def test_a_json_object_per_line_with_the_call_id_of_the_scope(lines: io.StringIO) -> None:
    log = logging.getLogger("ivr.test")
    log.info("outside")
    with call_scope("1795312804.30"):
        log.info("inside %d", 1)
        with call_scope("1795312804.30"):
            assert current_call_id() == "1795312804.30"
        log.warning("still inside")
    first, second, third = records(lines)
    assert first["call_id"] is None and first["msg"] == "outside"
    assert second == {**second, "call_id": "1795312804.30", "msg": "inside 1", "level": "INFO",
                      "logger": "ivr.test"}
    assert third["call_id"] == "1795312804.30"
    assert str(first["ts"]).endswith("Z")


def test_each_thread_has_its_own_call(lines: io.StringIO) -> None:
    log = logging.getLogger("ivr.test")

    def call(call_id: str) -> None:
        with call_scope(call_id):
            log.info("step")

    threads = [threading.Thread(target=call, args=(f"call-{i}",)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(str(r["call_id"]) for r in records(lines)) == sorted(f"call-{i}" for i in range(8))


def test_numbers_masked_in_message_args_extra_and_traceback(lines: io.StringIO) -> None:
    log = logging.getLogger("ivr.test")
    log.info(f"inline {INN} and {SNILS}")
    log.info("args %s %s %s %s", INN, SNILS_DIGITS, PHONE, PHONE[1:])
    log.info("mapping %(inn)s", {"inn": INN})
    log.info("extra", extra={"caller": PHONE, "fields": {"snils": SNILS}, "fio": NAME})
    try:
        raise RuntimeError(f"routing refused {PHONE}, ИНН {INN}, {NAME}")
    except RuntimeError:
        log.exception("failed for %s", PHONE)
    text = lines.getvalue()
    assert_clean(text.replace(NAME, "?"))  # the exception text carries the name: see below
    got = records(lines)
    assert got[0]["msg"] == f"inline ********{INN[-4:]} and ***-***-*{SNILS[-5:]}"
    assert got[3]["caller"] == "+7******9901" and got[3]["fio"] == "С********* Т. П."
    assert "RuntimeError: routing refused +7******9901" in str(got[4]["exc"])


def test_names_masked_as_known_fields_and_call_values(lines: io.StringIO) -> None:
    log = logging.getLogger("ivr.test")
    ctx = CallContext("c1", PHONE, "88005553535", 0.0, inn=INN, snils=SNILS,
                      name=SpokenName(NAME, 0.9, None), callback_number=PHONE)
    log.info("context %s", ctx)
    log.info(ctx)  # type: ignore[arg-type]
    log.info("name %s", SpokenName(NAME, 0.9, "clip"))
    log.info("screen %s", {"name": NAME, "inn": INN, "caller": {"fio": NAME}})
    assert_clean(lines.getvalue())
    assert "С********* Т. П." in lines.getvalue()


def test_what_the_caller_said_is_hidden_in_that_calls_lines(lines: io.StringIO) -> None:
    log = logging.getLogger("ivr.test")
    with call_scope("c2"):
        remember_personal(NAME)
        remember_personal("12345678")  # a number too short for the shape rules
        log.info("recogniser heard %r, typed 12345678", NAME)
        try:
            raise ValueError(f"not a name: {NAME}")
        except ValueError:
            log.exception("speech step failed")
    with call_scope("c3"):
        log.info("another call says Тестомир")  # not this call's secret
    text = lines.getvalue()
    assert_clean(text.replace("another call says Тестомир", ""))
    assert "12345678" not in text
    assert records(lines)[-1]["msg"] == "another call says Тестомир"


def test_a_bad_format_string_is_still_logged_and_masked(lines: io.StringIO) -> None:
    logging.getLogger("ivr.test").info("two %s %s", INN)  # noqa: PLE1206
    (record,) = records(lines)
    assert "two %s %s" in str(record["msg"]) and INN not in str(record["msg"])


def test_text_format_for_a_terminal() -> None:
    stream = io.StringIO()
    handler = configure_logging(stream=stream, json_lines=False)
    try:
        with call_scope("c9"):
            logging.getLogger("ivr.test").info("caller %s", PHONE)
    finally:
        logging.getLogger().removeHandler(handler)
    assert "[c9] caller +7******9901" in stream.getvalue()


def test_text_lines_cannot_be_forged_by_what_a_client_sent() -> None:
    """A URL, a log-in name or an AGI variable carrying a newline and a made-up record, or a
    terminal escape, stays inside its own record of a text log (issue 20's attack)."""
    stream = io.StringIO()
    handler = configure_logging(stream=stream, json_lines=False)
    forged = "abc\n2026-12-06 23:59:59,000 INFO ivr.console.security [-] console log-in: FORGED\r\x1b[2K"
    try:
        logging.getLogger("ivr.console.security").warning("console not_your_call: call=%s", forged)
        logging.getLogger("ivr.test").info("made:\n    supervisor (supervisor)  password: a-b-c")
    finally:
        logging.getLogger().removeHandler(handler)
    lines = stream.getvalue().splitlines()
    assert len(lines) == 4, lines
    assert [line[:4] == "2026" or line[0].isdigit() for line in lines] == [True, False, True, False], lines
    assert lines[1].startswith("  2026-12-06 23:59:59,000 INFO") and lines[1].endswith("FORGED\\r\\x1b[2K"), lines
    assert lines[3] == "      supervisor (supervisor)  password: a-b-c"


def test_personal_data_a_peer_put_in_the_call_id_is_masked_there_too(lines: io.StringIO) -> None:
    """Issue 20's attack: an AGI peer sent ``agi_uniqueid: 1796600999.<ИНН>``; every line of
    the call carried the ИНН in clear in ``call_id`` (the message itself was masked)."""
    for call_id in (f"1796600999.{INN}", f"{SNILS_DIGITS}", PHONE):
        with call_scope(call_id):
            logging.getLogger("ivr.test").info("call %s ended", call_id)
    text = lines.getvalue()
    assert INN not in text and SNILS_DIGITS not in text and PHONE[1:] not in text, text
    ids = [record["call_id"] for record in records(lines)]
    assert ids[0] == "1796600999.********" + INN[-4:], ids
    for kept in ("1796600015.153", "CA73017301730173017301730173017301"):  # Asterisk's, Twilio's
        with call_scope(kept):  # stay as they are, for correlation
            logging.getLogger("ivr.test").info("fine")
        assert records(lines)[-1]["call_id"] == kept
