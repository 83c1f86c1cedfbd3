"""An auditor puts a recording on legal hold from the recordings page, with the reason (a
court's request), and later releases it: the list says which recordings are held, and each
change is in the access log with its reason; without a reason it is refused.  Found trying
the product: ``purge`` and the page spoke of legal holds, but nobody could set one."""

from __future__ import annotations

from typing import Any

from tests.console.live import log_in
from tests.journeys.product import Product, auditor_session, until
from tests.journeys.test_newcomer import call_and_say_a_name, listed, printed_passwords
from tests.journeys.test_operator_day import text_of, wait


def test_an_auditor_holds_a_recording_and_releases_it(product: Product, browser: Any) -> None:
    from selenium.webdriver.common.by import By

    serving = product.serve()
    passwords = printed_passwords(serving)
    call_and_say_a_name(product, serving)
    auditor, _ = auditor_session(serving, passwords["auditor"])
    names = until(lambda: [r for r in listed(serving, auditor) if r["kind"] == "name"], 15,
                  what="the spoken name in the auditor's list")
    rid = names[0]["id"]

    log_in(browser, serving.base_url, "auditor", passwords["auditor"])
    wait(browser, lambda d: d.current_url.endswith("/auditor/recordings"), timeout=15)
    row = f"#rec-{rid}"

    def shown(selector: str) -> str:  # read in one script: the page redraws its rows as they change
        return str(browser.execute_script(
            "const e = document.querySelector(arguments[0]); return e ? e.textContent : '';", selector))

    def press_hold(reason: str) -> None:
        field = browser.find_element(By.CSS_SELECTOR, f"{row} input.reason")
        field.clear()
        field.send_keys(reason)
        browser.find_element(By.CSS_SELECTOR, f"{row} button.hold").click()

    wait(browser, lambda d: shown(f"{row} button.hold") == "Удержать", timeout=10)
    press_hold("")  # no reason: refused, and the refusal is audited
    wait(browser, lambda d: text_of(d, "rec-status") == "Укажите основание удержания")
    assert not {r["id"]: r for r in listed(serving, auditor)}[rid]["hold"]

    press_hold("запрос суда № 12-345")
    wait(browser, lambda d: "на удержании" in shown(row))
    assert shown(f"{row} button.hold") == "Снять удержание"
    assert {r["id"]: r for r in listed(serving, auditor)}[rid]["hold"]
    wait(browser, lambda d: "запрос суда № 12-345" in shown("#audit"))
    assert "удержание записи (не удалять по сроку)" in shown("#audit")

    press_hold("дело закрыто")
    wait(browser, lambda d: "на удержании" not in shown(row) and shown(row))
    assert not {r["id"]: r for r in listed(serving, auditor)}[rid]["hold"]
    wait(browser, lambda d: "снятие удержания записи" in shown("#audit"))
