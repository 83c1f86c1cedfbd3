"""An operator reloads the console (or switches its language, which reloads it) after a
callback's citizen hung up and before the wrap-up: the call left to wrap up is shown by its
appeal number, without the screen-pop's labels standing empty (Личность, Тема, Очередь ...
with nothing after them)."""

from __future__ import annotations

from typing import Any

import pexpect

from tests.journeys.product import Product
from tests.journeys.test_callback import callback_offered_to_olga
from tests.journeys.test_operator_day import state, text_of, wait


def test_a_call_left_to_wrap_up_after_a_reload_shows_no_empty_details(product: Product, browser: Any) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    _serving, phone, _call_id = callback_offered_to_olga(product, browser)
    appeal = text_of(browser, "pop-appeal")
    assert browser.find_element(By.ID, "pop-topic").is_displayed()
    phone.expect_exact("is calling back")
    phone.send("a")
    phone.expect_exact("Connected to the operator")
    wait(browser, lambda d: state(d) == "on_call")
    phone.send("h")
    phone.expect_exact("Call ended.")
    phone.expect(pexpect.EOF)
    wait(browser, lambda d: state(d) == "wrap_up")

    browser.refresh()  # what the language switch does too
    wait(browser, lambda d: d.find_element(By.ID, "pop").is_displayed())
    wait(browser, lambda d: text_of(d, "pop-name") == "Разговор окончен — заполните итог")
    assert text_of(browser, "pop-appeal") == appeal
    assert text_of(browser, "pop-kind") == "Обратный звонок"
    assert text_of(browser, "pop-call-state") == "разговор окончен"
    shown = browser.find_element(By.ID, "pop").text
    lines = [line.strip() for line in shown.splitlines()]
    for label in ("ИНН", "СНИЛС", "Личность", "Тема", "Очередь", "Язык", "Ожидание", "Путь по меню",
                  "Прежние обращения"):
        assert label not in lines, shown
    assert "уверенность распознавания" not in shown, shown
    assert not browser.find_element(By.CSS_SELECTOR, "#pop dl.facts").is_displayed()
    assert not browser.find_element(By.ID, "pop-path").is_displayed()

    Select(browser.find_element(By.ID, "wrap-result")).select_by_value("consulted")
    Select(browser.find_element(By.ID, "wrap-status")).select_by_value("completed")
    browser.find_element(By.ID, "wrap-submit").click()
    wait(browser, lambda d: d.find_element(By.ID, "done").is_displayed())
    assert appeal in text_of(browser, "done")
