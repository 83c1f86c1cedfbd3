"""An operator on a call from the terminal softphone (the README's ``ivr call``) tries the
live-call controls.  The softphone carries no audio: her screen says the call is not
recorded (though the citizen consented) and offers no pause; a transfer is refused, in the
page's language, and the call stays with the operator, on the line, nothing reserved; then
the citizen hangs up and she wraps up."""

from __future__ import annotations

from typing import Any

from tests.journeys.product import Product
from tests.journeys.test_operator_day import PASSWORD, log_in, state, text_of, wait
from tests.journeys.test_softphone import reach_the_queue


def shown(driver: Any, element_id: str) -> bool:
    from selenium.webdriver.common.by import By

    return bool(driver.find_element(By.ID, element_id).is_displayed())


def test_a_softphone_call_is_not_called_recorded_and_its_transfer_is_refused(product: Product,
                                                                            browser: Any) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    for name, role, extra in (("olga", "operator", ("--operator", "op101")), ("irina", "auditor", ())):
        added = product.ivr("users", "add", name, "--role", role, *extra, input=PASSWORD + "\n")
        assert added.returncode == 0, added.stderr
    serving = product.serve()
    log_in(browser, serving, "olga")
    wait(browser, lambda d: d.current_url.endswith("/operator"))
    browser.find_element(By.ID, "language-switch").click()  # she reads English
    wait(browser, lambda d: d.execute_script("return document.documentElement.lang") == "en"
         and d.current_url.endswith("/operator"))
    browser.find_element(By.ID, "go-ready").click()
    wait(browser, lambda d: state(d) == "available")

    phone = product.call(serving)
    call_id = reach_the_queue(phone, consent="1")  # recorded
    phone.expect_exact("Connected to operator op101")
    wait(browser, lambda d: d.find_element(By.ID, "pop").get_attribute("data-call") == call_id)
    browser.find_element(By.ID, "pop-answered").click()
    wait(browser, lambda d: state(d) == "on_call")
    # Seen: the softphone went on saying the operator's phone rang; it says she answered.
    phone.expect_exact("Operator op101 answered: you are talking")

    # Seen: the pop said "being recorded" (and offered a pause) on a call from the terminal,
    # which carries no audio: nothing records it.  The citizen consented; the pop says why not.
    assert text_of(browser, "pop-recording") == \
        "not recorded (a call from the ivr call terminal: it carries no audio)"
    assert not shown(browser, "pop-pause")
    assert browser.find_element(By.ID, "pop-call-state").get_attribute("data-call-state") == "connected"

    # Transfer, blind and warm, to the second line and to a colleague: refused, nothing reserved.
    for target, mode in (("queue:second_line", "blind"), ("operator:op102", "warm")):
        Select(browser.find_element(By.ID, "transfer-target")).select_by_value(target)
        browser.find_element(By.ID, f"transfer-mode-{mode}").click()
        browser.find_element(By.ID, "transfer-go").click()
        wait(browser, lambda d: shown(d, "transfer-error"))
        assert text_of(browser, "transfer-error") == \
            "No telephony carries this conversation: it cannot be transferred"
        if mode == "blind":  # the warm try's refusal is left on screen, as the operator leaves it
            browser.execute_script("document.getElementById('transfer-error').hidden = true")
    assert state(browser) == "on_call"
    assert text_of(browser, "pop-call-state") == "connected"
    queues = {q["queue"]: q for q in serving.ops_get("/queues").json()["queues"]}
    assert all(q["operators"]["reserved"] == 0 for q in queues.values()), queues
    assert queues["second_line"]["waiting"] == 0 and queues["general"]["operators"]["on_call"] == 1

    phone.send("h")  # the citizen says goodbye
    phone.expect_exact("Call ended.")
    # Seen: the refusal stayed on the wrap-up screen, under a form for a call that is over.
    wait(browser, lambda d: not shown(d, "transfer-error") and not shown(d, "transfer"))
    Select(browser.find_element(By.ID, "wrap-result")).select_by_value("resolved")
    Select(browser.find_element(By.ID, "wrap-status")).select_by_value("completed")
    browser.find_element(By.ID, "wrap-submit").click()
    wait(browser, lambda d: d.find_element(By.ID, "done").is_displayed())
    assert state(browser) == "wrap_up"
    browser.find_element(By.ID, "logout").click()

    # The auditor reads the tries in the console's access log, in Russian words (seen: the
    # transfers were listed as transfer_blind, transfer_warm, with "unsupported: no live legs").
    log_in(browser, serving, "irina")
    wait(browser, lambda d: d.current_url.endswith("/auditor/recordings"))
    if browser.execute_script("return document.documentElement.lang") != "ru":  # olga's choice, on this browser
        browser.find_element(By.ID, "language-switch").click()
        wait(browser, lambda d: d.execute_script("return document.documentElement.lang") == "ru"
             and d.current_url.endswith("/auditor/recordings"))
    wait(browser, lambda d: "Строк" in text_of(d, "audit-chain"))
    [tab] = [b for b in browser.find_elements(By.TAG_NAME, "button") if b.text == "Персональные данные в консоли"]
    tab.click()
    wait(browser, lambda d: "перевод" in d.find_element(By.ID, "audit").text)
    log = browser.find_element(By.ID, "audit").text
    for words in ("перевод звонка", "перевод с консультацией", "отказано (телефония не ведёт этот разговор)"):
        assert words in log, (words, log)
    for raw in ("transfer_", "pause_recording", "unsupported", "call_not_live", "no live legs"):
        assert raw not in log, (raw, log)


def test_the_supervisor_is_told_why_a_softphone_call_cannot_be_joined(product: Product, browser: Any) -> None:
    from selenium.webdriver.common.by import By

    from tests.console.live import headless_chromium

    for name, extra in (("olga", ("--role", "operator", "--operator", "op101")),
                        ("vera", ("--role", "supervisor", "--phone", "PJSIP/sup201")),
                        ("sveta", ("--role", "supervisor"))):  # no phone set
        added = product.ivr("users", "add", name, *extra, input=PASSWORD + "\n")
        assert added.returncode == 0, added.stderr
    serving = product.serve()
    log_in(browser, serving, "olga")
    wait(browser, lambda d: d.current_url.endswith("/operator"))
    browser.find_element(By.ID, "go-ready").click()
    wait(browser, lambda d: state(d) == "available")
    phone = product.call(serving)
    call_id = reach_the_queue(phone, consent="1")
    phone.expect_exact("Connected to operator op101")
    wait(browser, lambda d: d.find_element(By.ID, "pop").get_attribute("data-call") == call_id)
    browser.find_element(By.ID, "pop-answered").click()
    wait(browser, lambda d: state(d) == "on_call")

    join = ("const done = arguments[arguments.length - 1];"
            "window.ivr.api('POST', '/supervisor/api/supervise', {call: arguments[0], mode: 'listen'})"
            ".then((r) => done([r.status, r.data.error]));")
    with headless_chromium() as desk:
        log_in(desk, serving, "vera")
        wait(desk, lambda d: d.current_url.endswith("/supervisor"))
        note = wait(desk, lambda d: d.find_elements(By.ID, "supervise-op101-not-live"))[0]
        assert note.text.startswith("подключиться нельзя: вызов идёт не через телефонию")
        assert not desk.find_elements(By.ID, "supervise-op101-listen")
        # what a button pressed as the call moved would be told: not "the conversation is over"
        assert desk.execute_async_script(join, call_id) == [409, "unsupported"]
        desk.find_element(By.ID, "logout").click()
        log_in(desk, serving, "sveta")
        wait(desk, lambda d: d.current_url.endswith("/supervisor"))
        assert text_of(desk, "supervise-phone") == "Телефон не указан: его задаёт администратор"
        assert desk.execute_async_script(join, call_id) == [409, "no_phone"]
    assert state(browser) == "on_call"
    assert text_of(browser, "pop-call-state") == "на связи"
    phone.send("h")
    phone.expect_exact("Call ended.")
