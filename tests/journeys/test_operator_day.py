"""An operator's day on the README's defaults (no AMI: nothing from telephony says when a
conversation begins): log in, ready, two citizens answered with the screen-pop's button,
wrap-up, a break; the supervisor then sees the calls answered within the service level."""

from __future__ import annotations

import re
from typing import Any

from tests.journeys.product import Product, Serving
from tests.journeys.test_softphone import reach_the_queue

PASSWORD = "correct horse battery"


def wait(driver: Any, condition: Any, timeout: float = 15) -> Any:
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(driver, timeout, poll_frequency=0.1).until(condition)


def text_of(driver: Any, element_id: str) -> str:
    from selenium.webdriver.common.by import By

    return str(driver.find_element(By.ID, element_id).text)


def state(driver: Any) -> str:
    from selenium.webdriver.common.by import By

    return str(driver.find_element(By.ID, "state").get_attribute("data-state"))


def log_in(driver: Any, serving: Serving, user: str) -> None:
    from selenium.webdriver.common.by import By

    driver.get(serving.base_url + "/login")
    driver.find_element(By.ID, "username").send_keys(user)
    driver.find_element(By.ID, "password").send_keys(PASSWORD)
    driver.find_element(By.ID, "login-submit").click()


def take_a_call(driver: Any, product: Product, serving: Serving, *, result: str) -> str:
    """A citizen calls through the softphone; the operator answers with the pop's button,
    they talk, the citizen hangs up, the operator wraps up.  The call id."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    phone = product.call(serving)
    call_id = reach_the_queue(phone, consent="2")
    phone.expect_exact("Connected to operator op101")
    wait(driver, lambda d: d.find_element(By.ID, "pop").get_attribute("data-call") == call_id)
    assert text_of(driver, "pop-call-state") == "соединение…"
    answered = driver.find_element(By.ID, "pop-answered")
    assert answered.is_displayed()
    answered.click()
    wait(driver, lambda d: state(d) == "on_call")
    assert text_of(driver, "pop-call-state") == "на связи"
    assert not answered.is_displayed()
    phone.send("h")  # the citizen says goodbye
    phone.expect_exact("Call ended.")
    Select(driver.find_element(By.ID, "wrap-result")).select_by_value(result)
    Select(driver.find_element(By.ID, "wrap-status")).select_by_value("completed")
    driver.find_element(By.ID, "wrap-submit").click()
    wait(driver, lambda d: d.find_element(By.ID, "done").is_displayed())
    assert state(driver) == "wrap_up" and driver.find_element(By.ID, "acw").is_displayed()
    return call_id


def test_an_operators_day(product: Product, browser: Any) -> None:
    from selenium.webdriver.common.by import By

    for name, role in (("olga", "operator"), ("sveta", "supervisor")):
        extra = ("--operator", "op101") if role == "operator" else ()
        added = product.ivr("users", "add", name, "--role", role, *extra, input=PASSWORD + "\n")
        assert added.returncode == 0, added.stderr
    serving = product.serve()

    log_in(browser, serving, "olga")
    wait(browser, lambda d: d.current_url.endswith("/operator"))
    wait(browser, lambda d: text_of(d, "connection") == "на связи")
    wait(browser, lambda d: state(d) == "offline")
    # Seen: "Состояние: Не готов —", a dash after a state with no time to say.
    assert text_of(browser, "state") == "Не готов" and text_of(browser, "state-since") == ""
    browser.find_element(By.ID, "go-ready").click()
    wait(browser, lambda d: state(d) == "available")
    assert text_of(browser, "state-since").startswith("с ")

    first = take_a_call(browser, product, serving, result="consulted")
    browser.find_element(By.ID, "acw-done").click()  # ready again before the timer ends
    wait(browser, lambda d: state(d) == "available")
    second = take_a_call(browser, product, serving, result="resolved")
    assert first != second
    browser.find_element(By.ID, "go-break").click()
    wait(browser, lambda d: state(d) == "break")
    browser.find_element(By.ID, "go-not-ready").click()  # the day is over
    wait(browser, lambda d: state(d) == "offline")
    assert not browser.find_element(By.ID, "status-error").is_displayed()
    browser.find_element(By.ID, "logout").click()
    wait(browser, lambda d: d.current_url.endswith("/login"))

    log_in(browser, serving, "sveta")
    wait(browser, lambda d: d.current_url.endswith("/supervisor"))
    row = wait(browser, lambda d: d.find_elements(By.ID, "queue-general"))[0]
    level = row.find_elements(By.TAG_NAME, "td")[5].text
    assert re.match(r"100\s*%", level), f"both calls answered within the target: {level!r}"
    assert text_of(browser, "total-answered") == "2"
    # and the command beside the running engine says the same
    report = product.ivr("queues")
    assert report.returncode == 0, report.stderr
    # Columns are two or more spaces apart ("nobody on duty" is one cell).
    general = next(re.split(r"\s{2,}", line) for line in report.stdout.splitlines() if line.startswith("general "))
    assert general[5] == "100%", report.stdout
