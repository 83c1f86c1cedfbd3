"""A citizen who goes through to the queue hears their appeal number (номер обращения)
before the hold, in the language they chose: a caller who waits, then gives up, can quote
it next time (the brief: every call gets an appeal number the caller hears)."""

from __future__ import annotations

import io
import re

import pexpect

from tests.journeys.citizen import close_payments_for_now, press, serve_ready, to_topics
from tests.journeys.product import Product

LANGUAGES = (("1", "Номер вашего обращения"), ("2", "Your appeal number is"))  # key at language.choose


def test_a_caller_in_line_hears_the_appeal_number_before_the_hold_in_russian_and_english(product: Product) -> None:
    serving = product.serve()
    for key, said in LANGUAGES:
        phone = product.call(serving)
        screen = phone.logfile_read = io.StringIO()
        phone.expect_exact("[language.choose]")
        phone.send(key)
        phone.expect_exact("● recording")
        phone.sendline("")  # says nothing
        phone.expect_exact("[identity.enter_number]")
        phone.send("#")  # skips the number
        phone.expect_exact("[menu.main]")
        phone.send("0")  # an operator
        phone.expect_exact("[consent.ask_keys]")
        phone.send("2")  # not recorded
        phone.expect_exact(f"[common.your_appeal] {said}")
        phone.expect_exact("[queue.position]")
        phone.expect_exact("♫ music on hold")  # the number came before the hold
        heard = screen.getvalue()
        told = heard[heard.rindex("[common.your_appeal]"):heard.index("[queue.position]")]
        digits = "".join(re.findall(r"\[number\.(\d)\]", told))
        phone.send("h")
        phone.expect_exact("Call ended.")
        phone.expect(r"IVR_APPEAL = (\d{10})")
        assert digits == phone.match.group(1), (digits, told)
        phone.close()


def test_a_caller_who_says_goodbye_hears_the_appeal_number_before_the_goodbye(product: Product) -> None:
    """The topic's specialists are off; the citizen chooses to end the call.  The appeal
    number comes before "До свидания": a caller who hears goodbye hangs up."""
    close_payments_for_now(product)
    citizen = product.call(serve_ready(product))
    to_topics(citizen)
    press(citizen, "4", r"\[hours\.closed\]")  # payments: its specialists are off
    heard = press(citizen, "2", r"\[common\.goodbye\]")  # no duty operator: goodbye
    assert "[common.your_appeal]" in heard, heard
    citizen.expect(pexpect.EOF)
    heard += str(citizen.before)
    assert heard.index("[common.your_appeal]") < heard.index("[common.goodbye]"), heard
