"""The consoles in Chromium, as their users read them: one language per page, names not ids,
counts in their right forms, the hotline's time; an operator's pop; an auditor listening."""

from __future__ import annotations

import datetime as dt
import re
import struct
import time
import wave
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from tests.console.live import log_in
from tests.journeys.citizen import (
    KEYS_PROMPT,
    add_user,
    close_payments_for_now,
    dialled_call_id,
    edit_config,
    hang_up,
    press,
    serve_ready,
    to_topics,
)
from tests.journeys.product import Product, until
from tests.journeys.test_opening_hours import spoken
from tests.journeys.test_softphone import reach_the_queue

CYRILLIC = re.compile(r"[А-Яа-яЁё]")
LATIN_WORD = re.compile(r"[A-Za-z_]{2,}")
# Latin a Russian page may show: the menu's own name and its file, the time zone.
NOT_ENGLISH = {"hotline", "dialplans", "yaml", "UTC"}


def waits(browser: Any, condition: Any, timeout: float = 10) -> Any:
    from selenium.common.exceptions import StaleElementReferenceException
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(browser, timeout, poll_frequency=0.05,
                         ignored_exceptions=(StaleElementReferenceException,)).until(condition)


def page_text(browser: Any) -> str:
    """What the page says, less the language switch (it names the other language in it)
    the user's own log-in name and the operators' names (people's names, data: also in the
    transfer's list of operators, each option beside its state)."""
    return str(browser.execute_script("""
        const clone = document.body.cloneNode(true);
        clone.querySelectorAll('#language-switch, #who, .op-name, title').forEach((n) => n.remove());
        clone.querySelectorAll('option[data-name]').forEach((o) => {
          o.textContent = o.textContent.replace(o.dataset.name, ''); });
        return clone.innerText;"""))


def total(browser: Any, figure: str) -> str:
    """A figure of the dashboard's totals with its word, as read: "1 ждёт"."""
    from selenium.webdriver.common.by import By

    box = browser.find_element(By.ID, figure).find_element(By.XPATH, "..")
    return " ".join(box.text.split())


def english_in(text: str) -> set[str]:
    return set(LATIN_WORD.findall(text)) - NOT_ENGLISH


def test_the_supervisors_pages_speak_russian_and_english_by_the_switch(product: Product, browser: Any) -> None:
    from selenium.webdriver.common.by import By

    add_user(product, "sveta", "supervisor")
    serving = serve_ready(product)
    silent = product.call(serving)  # stays silent at the language question, then hangs up
    silent.expect(r"\[language\.choose\]")
    silent.expect(KEYS_PROMPT)
    press(silent, "", r"\[identity\.say_name\]")
    hang_up(silent)
    waiting = product.call(serving)  # asks for an operator; nobody is on duty, so they wait
    to_topics(waiting)
    press(waiting, "0", r"\[consent\.ask_keys\]")
    waiting.expect(KEYS_PROMPT)
    press(waiting, "1", r"music on hold")
    waiting.sendline("")  # keeps waiting

    log_in(browser, serving.base_url, "sveta")
    waits(browser, lambda d: d.current_url.endswith("/supervisor"))
    waits(browser, lambda d: d.find_element(By.ID, "total-waiting").text == "1")
    assert total(browser, "total-waiting") == "1 ждёт"
    assert total(browser, "total-callbacks") == "0 обратных звонков"
    waits(browser, lambda d: d.find_element(By.ID, "queue-general").text.startswith("Общие вопросы"))
    assert not english_in(page_text(browser)), english_in(page_text(browser))

    browser.find_element(By.LINK_TEXT, "Воронка").click()
    waits(browser, lambda d: d.find_elements(By.ID, "funnel-language"))
    language = browser.find_element(By.ID, "funnel-language")
    cells = [c.text for c in language.find_elements(By.TAG_NAME, "td")]
    assert cells[0] == "Выбор языка" and cells[1] == "язык"
    assert cells[4] == "0"  # silence keeps Russian: not a time-out
    assert cells[-1] == "молчание: язык по умолчанию (русский) 1"
    assert "за 7 дней" in browser.find_element(By.ID, "funnel-summary").text
    assert not english_in(page_text(browser)), english_in(page_text(browser))

    browser.find_element(By.LINK_TEXT, "Меню").click()
    waits(browser, lambda d: d.find_elements(By.ID, "menu-row-hotline"))
    assert not english_in(page_text(browser)), english_in(page_text(browser))

    # The switch: the same pages, in English only.
    browser.find_element(By.ID, "language-switch").click()
    waits(browser, lambda d: d.find_element(By.TAG_NAME, "html").get_attribute("lang") == "en")
    assert "Voice menus" in page_text(browser) and not CYRILLIC.search(page_text(browser))
    browser.find_element(By.LINK_TEXT, "Funnel").click()
    waits(browser, lambda d: d.find_elements(By.ID, "funnel-language"))
    assert browser.find_element(By.CSS_SELECTOR, "#funnel-language td").text == "Language choice"
    assert "silence: the default language (Russian) 1" in browser.find_element(By.ID, "funnel-language").text
    assert not CYRILLIC.search(page_text(browser)), page_text(browser)
    browser.find_element(By.LINK_TEXT, "Queues").click()
    waits(browser, lambda d: d.find_element(By.ID, "total-waiting").text == "1")
    waits(browser, lambda d: d.find_element(By.ID, "queue-general").text.startswith("General questions"))
    assert total(browser, "total-waiting") == "1 waiting"
    assert total(browser, "total-callbacks") == "0 callbacks"
    assert not CYRILLIC.search(page_text(browser)), page_text(browser)
    browser.get(serving.base_url + "/supervisor/menus/hotline")
    waits(browser, lambda d: d.find_element(By.ID, "live-version").text == "live: v1 (from the file dialplans/hotline.yaml)")
    assert not CYRILLIC.search(page_text(browser)), page_text(browser)
    hang_up(waiting)


def test_an_operator_sees_the_topic_a_caller_chose_when_its_specialists_are_off(product: Product,
                                                                               browser: Any) -> None:
    from selenium.webdriver.common.by import By

    opens = close_payments_for_now(product)
    add_user(product, "olga", "operator", "--operator", "op101")  # general questions, not payments
    serving = serve_ready(product)
    log_in(browser, serving.base_url, "olga")
    waits(browser, lambda d: d.current_url.endswith("/operator"))
    waits(browser, lambda d: d.find_element(By.ID, "connection").text == "на связи")
    browser.find_element(By.ID, "go-ready").click()
    waits(browser, lambda d: d.find_element(By.ID, "state").get_attribute("data-state") == "available")

    citizen = product.call(serving)
    to_topics(citizen)
    heard = press(citizen, "4", r"\[hours\.closed\]")  # payments
    form = "час" if opens in (1, 21) else "часа" if opens % 10 in (2, 3, 4) and opens not in (12, 13, 14) else "часов"
    assert re.search(r"\[hours\.closed_now\].*\n.*Они начнут работу (сегодня|завтра) в\s*\n"
                     rf"\s*{spoken(opens)}\s*\n\s*♪ \[hours\.hour\.\w+\] {form}\b", heard), heard
    citizen.expect(KEYS_PROMPT)
    press(citizen, "1", r"\[consent\.ask_keys\]")  # the duty operator
    citizen.expect(KEYS_PROMPT)
    citizen.sendline("1")
    waits(browser, lambda d: not d.find_element(By.ID, "pop").get_attribute("hidden"), timeout=20)
    assert browser.find_element(By.ID, "pop-topic").text == "Платежи"
    assert browser.find_element(By.ID, "pop-queue").text == "Общие вопросы"
    path = [r.find_element(By.TAG_NAME, "td").text for r in browser.find_elements(By.CSS_SELECTOR, "#pop-path tbody tr")]
    assert "Тема «Платежи»" in path and "К дежурному оператору (тема сохранена)" in path
    # Seen: the closed queue named by its id ("закрыто (payments)"), not as the funnel names it.
    exits = [r.find_elements(By.TAG_NAME, "td")[3].text for r in
             browser.find_elements(By.CSS_SELECTOR, "#pop-path tbody tr")]
    assert any("Платежи" in e and "закрыто" in e.lower() for e in exits) and not any("(payments)" in e for e in exits), exits
    hang_up(citizen)


def _wav(path: Path, seconds: float = 1.0) -> None:
    """What Asterisk leaves on disk: 8 kHz 16-bit mono (a tone, so the player has something)."""
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(8000)
        frames = int(8000 * seconds)
        out.writeframes(b"".join(struct.pack("<h", 8000 if (i // 20) % 2 else -8000) for i in range(frames)))


def test_an_auditor_listens_to_a_conversation_told_apart_from_the_name_and_the_access_is_logged(
        product: Product, browser: Any) -> None:
    from selenium.webdriver.common.by import By

    # Without Asterisk here, the engine's trial folders stand for Asterisk's: RECORD FILE
    # clips and MixMonitor's spool (README, first run); the test writes what Asterisk would.
    add_user(product, "anton", "auditor")
    serving = serve_ready(product)
    spool, clips = product.root / "var" / "spool" / "monitor", product.root / "var" / "spool" / "clips"
    assert spool.is_dir() and clips.is_dir()

    citizen = product.call(serving)
    call_id = dialled_call_id(citizen)
    to_topics(citizen)
    _wav(clips / f"{call_id}-ask_name.wav")  # the name as Asterisk's RECORD FILE left it
    press(citizen, "0", r"\[consent\.ask_keys\]")
    citizen.expect(KEYS_PROMPT)
    press(citizen, "1", r"music on hold")  # consent given
    hang_up(citizen)
    _wav(spool / f"{call_id}.wav", 2.0)  # the conversation, as MixMonitor closes it
    (spool / f"{call_id}.wav.done").touch()
    until(lambda: not (spool / f"{call_id}.wav").exists(), 15, what="the spool file taken into the store")

    log_in(browser, serving.base_url, "anton")
    waits(browser, lambda d: d.current_url.endswith("/auditor/recordings"))
    rows = waits(browser, lambda d: len(d.find_elements(By.CSS_SELECTOR, "#recordings tbody tr")) == 2
                 and d.find_elements(By.CSS_SELECTOR, "#recordings tbody tr"))
    kinds = {r.get_attribute("data-kind"): r.find_element(By.CLASS_NAME, "rec-kind").text for r in rows}
    assert kinds == {"operator": "разговор с оператором", "name": "ФИО, сказанное абонентом"}
    conversation = next(r for r in rows if r.get_attribute("data-kind") == "operator")
    created = conversation.find_element(By.TAG_NAME, "td").text
    local = dt.datetime.now(ZoneInfo("Europe/Moscow")).strftime("%d.%m.%Y")
    assert created.startswith(local), created  # the hotline's date, not UTC's
    conversation.find_element(By.CLASS_NAME, "reason").send_keys("жалоба гражданина № 17")
    conversation.find_element(By.CLASS_NAME, "listen").click()
    waits(browser, lambda d: d.find_elements(By.ID, "playing"))
    assert browser.find_element(By.ID, "playing").text.startswith("Звучит: разговор с оператором")
    waits(browser, lambda d: d.execute_script("const a = document.querySelector('#player audio');"
                                              "return a && a.readyState >= 1 && a.duration > 1.5"))
    audit = waits(browser, lambda d: [r for r in d.find_elements(By.CSS_SELECTOR, "#audit tbody tr")
                                      if "жалоба гражданина № 17" in r.text])
    row = audit[0].text
    assert "anton" in row and "прослушивание" in row and "разрешено" in row
    assert not re.search(r"\d{4}-\d\d-\d\dT", row)  # no raw UTC stamp beside local times
    when = audit[0].find_elements(By.TAG_NAME, "td")[1].text
    assert when.startswith(local), when


def test_an_operators_page_speaks_one_language_through_whole_calls_and_not_ready_waits_for_the_call_to_end(
        product: Product, browser: Any) -> None:
    """Russian through a call (pop, answered, "not ready" asked for during it, wrap-up), then
    not ready: the next caller waits; switched to English, ready: that caller's whole call in
    English.  No word of the other language on the page at any step."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    def text(d: Any, element_id: str) -> str:
        return str(d.find_element(By.ID, element_id).text)

    def state(d: Any) -> str:
        return str(d.find_element(By.ID, "state").get_attribute("data-state"))

    def russian_only() -> None:
        assert not english_in(page_text(browser)), (english_in(page_text(browser)), page_text(browser))

    def english_only() -> None:
        assert not CYRILLIC.search(page_text(browser)), page_text(browser)

    def waiting() -> int:
        queues = serving.ops_get("/queues").json()["queues"]
        return int(next(q for q in queues if q["queue"] == "general")["waiting"])

    # A supervisor's setting: five seconds of after-call work, so the day moves on quickly.
    edit_config(product, "  announce_every: 45\n", "  announce_every: 45\n  wrap_up_seconds: 5\n")
    add_user(product, "olga", "operator", "--operator", "op101")
    serving = serve_ready(product)
    log_in(browser, serving.base_url, "olga")
    waits(browser, lambda d: d.current_url.endswith("/operator"))
    waits(browser, lambda d: text(d, "connection") == "на связи")
    assert text(browser, "language-switch") == "English"
    browser.find_element(By.ID, "go-ready").click()
    waits(browser, lambda d: state(d) == "available")
    assert text(browser, "state") == "Готов"
    russian_only()

    first = product.call(serving)
    first_id = reach_the_queue(first, consent="2")
    first.expect_exact("Connected to operator op101")
    waits(browser, lambda d: d.find_element(By.ID, "pop").get_attribute("data-call") == first_id, timeout=20)
    assert text(browser, "pop-call-state") == "соединение…" and text(browser, "pop-kind") == "Входящий вызов"
    assert text(browser, "pop-topic") == "Оператор (тема не выбрана)" and text(browser, "pop-language") == "русский"
    russian_only()
    browser.find_element(By.ID, "pop-answered").click()
    waits(browser, lambda d: state(d) == "on_call")
    assert text(browser, "pop-call-state") == "на связи" and text(browser, "state") == "Разговор"

    browser.find_element(By.ID, "go-not-ready").click()  # the shift ends after this call
    waits(browser, lambda d: d.find_element(By.ID, "after-call").is_displayed())
    assert text(browser, "after-call-text") == "после звонка: не готов"
    assert not browser.find_element(By.ID, "status-error").is_displayed()  # no "Сейчас нельзя" (409)
    assert state(browser) == "on_call"
    russian_only()

    first.send("h")  # the citizen says goodbye
    first.expect_exact("Call ended.")
    appeal = text(browser, "pop-appeal")
    Select(browser.find_element(By.ID, "wrap-result")).select_by_value("resolved")
    Select(browser.find_element(By.ID, "wrap-status")).select_by_value("completed")
    assert Select(browser.find_element(By.ID, "wrap-result")).first_selected_option.text == "Вопрос решён"
    browser.find_element(By.ID, "wrap-submit").click()
    waits(browser, lambda d: d.find_element(By.ID, "done").is_displayed())
    assert text(browser, "done") == f"Обращение {appeal}: статус «Завершено»."
    russian_only()
    waits(browser, lambda d: state(d) == "offline", timeout=15)  # after-call work over: not ready
    assert text(browser, "state") == "Не готов" and not browser.find_element(By.ID, "after-call").is_displayed()
    russian_only()

    second = product.call(serving)
    second_id = reach_the_queue(second, consent="2")
    second.expect_exact("♫ music on hold")
    until(lambda: waiting() == 1, 10, what="the second caller in line")
    time.sleep(3)  # three of the engine's ticks: nobody is given to the operator who is not ready
    assert waiting() == 1 and state(browser) == "offline"
    assert not browser.find_element(By.ID, "pop").is_displayed()

    # The switch: the same page, in English only.
    browser.find_element(By.ID, "language-switch").click()
    waits(browser, lambda d: d.find_element(By.TAG_NAME, "html").get_attribute("lang") == "en")
    waits(browser, lambda d: text(d, "connection") == "connected")
    assert text(browser, "state") == "Not ready"
    english_only()
    browser.find_element(By.ID, "go-ready").click()  # the waiting caller comes at once
    second.expect_exact("Connected to operator op101")
    waits(browser, lambda d: d.find_element(By.ID, "pop").get_attribute("data-call") == second_id, timeout=20)
    assert text(browser, "pop-call-state") == "connecting…" and text(browser, "pop-kind") == "Incoming call"
    assert text(browser, "pop-topic") == "Operator (no topic chosen)" and text(browser, "pop-language") == "Russian"
    assert text(browser, "pop-queue") == "General questions"
    english_only()
    browser.find_element(By.ID, "pop-answered").click()
    waits(browser, lambda d: state(d) == "on_call")
    assert text(browser, "pop-call-state") == "connected" and text(browser, "state") == "On a call"
    browser.find_element(By.ID, "go-not-ready").click()
    waits(browser, lambda d: d.find_element(By.ID, "after-call").is_displayed())
    assert text(browser, "after-call-text") == "after this call: not ready"
    english_only()
    browser.find_element(By.ID, "after-call-cancel").click()  # changed her mind: ready after it
    waits(browser, lambda d: not d.find_element(By.ID, "after-call").is_displayed())
    english_only()

    second.send("h")
    second.expect_exact("Call ended.")
    appeal = text(browser, "pop-appeal")
    Select(browser.find_element(By.ID, "wrap-result")).select_by_value("consulted")
    Select(browser.find_element(By.ID, "wrap-status")).select_by_value("in_progress")
    assert Select(browser.find_element(By.ID, "wrap-result")).first_selected_option.text == "Advice given"
    browser.find_element(By.ID, "wrap-submit").click()
    waits(browser, lambda d: d.find_element(By.ID, "done").is_displayed())
    assert text(browser, "done") == f'Appeal {appeal}: status "In progress".'
    english_only()
    waits(browser, lambda d: state(d) == "available", timeout=15)  # the request withdrawn: ready again
    assert text(browser, "state") == "Ready"
    english_only()
