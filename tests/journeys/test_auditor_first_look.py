"""The auditor's first look at a trial checkout (the README's ``ivr serve``, its development
recording key): after a citizen's call from the terminal softphone, which the telephony
would record but ``ivr call`` cannot, the recordings page says why its list is empty."""

from __future__ import annotations

from typing import Any

from tests.journeys.citizen import serve_ready
from tests.journeys.product import Product
from tests.journeys.test_operator_day import PASSWORD, log_in, text_of, wait
from tests.journeys.test_softphone import reach_the_queue


def test_an_empty_recordings_list_says_why(product: Product, browser: Any) -> None:
    from selenium.webdriver.common.by import By

    added = product.ivr("users", "add", "olga", "--role", "auditor", input=PASSWORD + "\n")
    assert added.returncode == 0, added.stderr
    serving = serve_ready(product)
    phone = product.call(serving)
    reach_the_queue(phone, consent="1")  # "the conversation will be recorded"
    phone.expect_exact("music on hold")
    phone.send("h")
    phone.expect_exact("Call ended.")

    log_in(browser, serving, "olga")
    wait(browser, lambda d: d.current_url.endswith("/auditor/recordings"))
    wait(browser, lambda d: text_of(d, "rec-status"))
    assert text_of(browser, "rec-status") == ("За 30 дней записей нет. Записывает телефония (Asterisk, Twilio); "
                                              "звонки с терминального телефона ivr call не записываются.")
    assert not browser.find_elements(By.CSS_SELECTOR, "#recordings tbody tr")
    browser.find_element(By.ID, "language-switch").click()
    wait(browser, lambda d: d.execute_script("return document.documentElement.lang") == "en"
         and d.current_url.endswith("/auditor/recordings"))
    wait(browser, lambda d: text_of(d, "rec-status").startswith("No recordings in the last 30 days."))
