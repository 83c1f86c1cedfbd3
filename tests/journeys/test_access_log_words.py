"""The auditor reads the console's access log in the console's language: an operator's try
at the caller's spoken name is named in words (Russian page: no ``listen_name_clip`` and no
``failed``), like every other action and outcome there.  On the way, the operator's open
pop gets the name's play button once the name can be played (Twilio stores it after the pop)."""

from __future__ import annotations

import io
import wave
from typing import Any

from tests.journeys.product import Product
from tests.journeys.test_operator_day import PASSWORD, log_in, state, text_of, wait
from tests.journeys.test_softphone import reach_the_queue


def test_the_console_access_log_names_a_name_clip_try_in_russian(product: Product, browser: Any) -> None:
    from selenium.webdriver.common.by import By

    for name, role, extra in (("olga", "operator", ("--operator", "op101")), ("irina", "auditor", ())):
        added = product.ivr("users", "add", name, "--role", role, *extra, input=PASSWORD + "\n")
        assert added.returncode == 0, added.stderr
    serving = product.serve()
    log_in(browser, serving, "olga")
    wait(browser, lambda d: text_of(d, "connection") == "на связи")
    browser.find_element(By.ID, "go-ready").click()
    wait(browser, lambda d: state(d) == "available")
    phone = product.call(serving)
    call_id = reach_the_queue(phone, consent="2")
    phone.expect_exact("Connected to operator op101")
    wait(browser, lambda d: d.find_element(By.ID, "pop").get_attribute("data-call") == call_id)
    # The softphone's caller said nothing into a file: no play button for nothing to play ...
    assert not browser.find_element(By.ID, "pop-clip").is_displayed()
    # ... and a try at the clip's address all the same is refused, and logged.
    status = browser.execute_script(
        "return fetch(arguments[0], {credentials: 'same-origin'}).then(r => r.status)",
        f"/operator/calls/{call_id}/name-clip")
    assert status == 404
    # The name arrives after the pop (as Twilio's recording does): the open pop gets its button.
    silence = io.BytesIO()
    with wave.open(silence, "wb") as w:
        w.setnchannels(1), w.setsampwidth(2), w.setframerate(8000), w.writeframes(b"\0\0" * 8000)
    (product.root / "var" / "spool" / "clips" / f"{call_id}-ask_name.wav").write_bytes(silence.getvalue())
    wait(browser, lambda d: d.find_element(By.ID, "pop-clip").is_displayed())
    browser.find_element(By.ID, "pop-clip").click()  # she listens: the recordings' log has it
    phone.send("h")
    phone.expect_exact("Call ended.")
    browser.find_element(By.ID, "logout").click()

    log_in(browser, serving, "irina")
    wait(browser, lambda d: d.current_url.endswith("/auditor/recordings"))
    [tab] = [b for b in browser.find_elements(By.TAG_NAME, "button") if b.text == "Персональные данные в консоли"]
    wait(browser, lambda d: "Строк" in text_of(d, "audit-chain"))
    tab.click()
    wait(browser, lambda d: call_id in d.find_element(By.ID, "audit").text)
    log = browser.find_element(By.ID, "audit").text
    assert "listen_name_clip" not in log and "failed" not in log and "clip not available" not in log, log
    assert "прослушивание ФИО абонента" in log and "не удалось (записи имени нет)" in log, log

    # The recordings' log too (seen: "screen-pop: the caller's spoken name, call …" on the
    # Russian page): the reason the console wrote itself, in words.
    [records] = [b for b in browser.find_elements(By.TAG_NAME, "button") if b.text == "Записи"]
    records.click()
    wait(browser, lambda d: "карточка звонка" in d.find_element(By.ID, "audit").text)
    log = browser.find_element(By.ID, "audit").text
    assert f"карточка звонка: имя звонящего, звонок {call_id}" in log, log
    assert "screen-pop" not in log, log
