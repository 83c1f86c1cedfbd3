"""A citizen who chooses English is put through to an operator who speaks it, hearing
English all the way (the journeys' "a citizen in English through to an operator")."""

from __future__ import annotations

import io
import re
from typing import Any

from tests.journeys.product import Product
from tests.journeys.test_operator_day import PASSWORD, log_in, state, wait


def test_an_english_caller_reaches_an_english_speaking_operator(product: Product, browser: Any) -> None:
    from selenium.webdriver.common.by import By

    added = product.ivr("users", "add", "olga", "--role", "operator", "--operator", "op101",
                        input=PASSWORD + "\n")  # op101 speaks ru and en (config.yaml)
    assert added.returncode == 0, added.stderr
    serving = product.serve()
    log_in(browser, serving, "olga")
    wait(browser, lambda d: d.current_url.endswith("/operator"))
    browser.find_element(By.ID, "go-ready").click()
    wait(browser, lambda d: state(d) == "available")

    phone = product.call(serving)
    screen = phone.logfile_read = io.StringIO()
    phone.expect(r"\(call (\d+\.\d+)\)")
    call_id = str(phone.match.group(1))
    phone.expect_exact("[language.choose]")
    phone.send("2")  # For English, press 2
    chosen = len(screen.getvalue())
    phone.expect_exact("· language: en")
    phone.expect_exact("● recording")
    phone.sendline("")  # says nothing
    phone.expect_exact("[identity.enter_number]")
    phone.send("#")  # skips the number
    phone.expect_exact("[menu.main] Choose a topic.")
    phone.send("0")  # an operator
    phone.expect_exact("[consent.ask_keys]")
    phone.send("2")  # no recording, thank you
    phone.expect_exact("Connected to operator op101")
    wait(browser, lambda d: d.find_element(By.ID, "pop").get_attribute("data-call") == call_id)
    phone.send("h")
    phone.expect_exact("Call ended.")
    heard = screen.getvalue()[chosen:]
    assert not re.search("[а-яА-ЯёЁ]", heard), heard  # not a word of Russian after choosing English
