"""A supervisor edits the menu of a running hotline: a typo, then a good edit, then a publish
from the console followed by a file edit, while citizens call through the softphone."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pexpect

from tests.console.live import log_in
from tests.journeys.citizen import (
    KEYS_PROMPT,
    add_user,
    close_payments_for_now,
    edit_config,
    press,
    serve_ready,
    to_topics,
)
from tests.journeys.product import Product, Serving, until

NOTICE_RU = "Внимание: на портале идут технические работы до 22 часов."
NOTICE_EN = "Please note: the portal is under maintenance until 10 pm."


def _serving(product: Product) -> Serving:
    add_user(product, "sveta", "supervisor")
    return serve_ready(product)


def _first_call_prompts(product: Product, serving: Serving) -> str:
    """Dial, listen up to the name question, hang up: what the caller heard."""
    call = product.call(serving)
    call.expect(r"\[language\.choose\]|\[identity\.say_name\]")
    heard = call.before + call.after
    call.sendline("h")
    call.expect(pexpect.EOF)
    return str(heard)


def _add_notice_prompt(root: Path) -> None:
    for language, text in (("ru", NOTICE_RU), ("en", NOTICE_EN)):
        path = root / "prompts" / f"{language}.yaml"
        path.write_text(path.read_text("utf-8") + f"notice:\n  works: \"{text}\"\n", "utf-8")


def _menus_page(browser: Any, serving: Serving) -> tuple[str, str, str]:
    """(refusal box text or "", the hotline row's version, its source) on /supervisor/menus."""
    from selenium.webdriver.common.by import By

    browser.get(serving.base_url + "/supervisor/menus")
    refused = browser.find_elements(By.ID, "menu-refused")
    row = browser.find_element(By.ID, "menu-row-hotline")
    return (refused[0].text if refused else "", row.find_element(By.CLASS_NAME, "version").text,
            row.find_element(By.CLASS_NAME, "source").text)


def test_a_typo_is_refused_while_calls_go_on_and_a_good_edit_reaches_the_next_call(product: Product,
                                                                                  browser: Any) -> None:
    serving = _serving(product)
    menu = product.root / "dialplans" / "hotline.yaml"
    text = menu.read_text("utf-8")
    log_in(browser, serving.base_url, "sveta")
    until(lambda: browser.current_url.endswith("/supervisor"), 10, what="the supervisor's desk")

    # A caller is in the menu when the supervisor saves a typo.
    citizen = product.call(serving)
    citizen.expect(r"\[language\.choose\]")
    line = text.splitlines().index("    next: language") + 1
    menu.write_text(text.replace("    next: language\n", "    next: languag\n", 1), "utf-8")
    serving.wait_log(r"menu edit refused")

    ready = serving.get("/readyz")
    assert ready.status == 200 and ready.json()["ready"] is True  # still takes calls: a balancer keeps it
    health = serving.ops_get("/healthz").json()  # the details: on the operational listener
    assert health["menus"]["hotline"]["version"] == 1 and health["menus"]["hotline"]["source"] == "file"
    public = serving.get("/healthz").json()  # anyone's: alive, versions, that an edit was refused
    assert public == {"status": "alive", "menus": {"hotline": {"version": 1, "source": "file"}},
                      "menu_edit_refused": True}, public
    assert "hotline.yaml" not in serving.get("/readyz").text
    assert any(f"hotline.yaml:{line}:" in p and "languag" in p for p in health["menu_edit_refused"]["problems"])
    metrics = serving.ops_get("/metrics").text
    assert re.search(r"^ivr_menu_edit_refused 1\.0$", metrics, re.MULTILINE)
    assert re.search(r'^ivr_menu_version\{menu="hotline",source="file"\} 1\.0$', metrics, re.MULTILINE)
    refused, version, source = _menus_page(browser, serving)
    assert f"hotline.yaml:{line}:" in refused and "Правка меню отклонена" in refused
    assert version == "v1" and source == "файл dialplans/hotline.yaml"
    # Seen: the editor showed the refused file as "live", and "compare with live" found no
    # difference.  It shows the text that serves, and says the file is not it.
    from selenium.webdriver.common.by import By

    browser.get(serving.base_url + "/supervisor/menus/hotline")
    until(lambda: "menu: hotline" in browser.find_element(By.ID, "menu-text").get_property("value"), 10,
          what="the editor")
    assert browser.find_element(By.ID, "menu-text").get_property("value") == text
    until(lambda: "не совпадает с действующим текстом" in browser.find_element(By.ID, "result-status").text, 10,
          what="the editor's word on the file")

    citizen.sendline("1")  # the call in progress goes on, on the version it began with
    citizen.expect(r"\[identity\.say_name\]")
    citizen.sendline("h")
    citizen.expect(pexpect.EOF)
    assert "[language.choose]" in _first_call_prompts(product, serving)  # a new call: the last good version

    # The good edit: a notice after the greeting, version 2.
    _add_notice_prompt(product.root)
    menu.write_text(text.replace("version: 1\n", "version: 2\n", 1)
                    .replace("    prompts: [welcome]\n", "    prompts: [welcome, notice.works]\n", 1), "utf-8")
    serving.wait_log(r"menus reloaded: hotline v2 \(file ")
    serving.wait_log(r"menu edit accepted again: the refusal of [^\"]* is over")  # seen: the log ended on the refusal
    health = serving.ops_get("/healthz").json()
    assert health["menu_edit_refused"] is None and health["menus"]["hotline"]["version"] == 2
    assert NOTICE_RU in _first_call_prompts(product, serving)  # the next call takes it
    refused, version, source = _menus_page(browser, serving)
    assert refused == "" and version == "v2"
    assert serving.get("/readyz").status == 200


def test_after_a_console_publish_a_file_edit_is_said_to_be_unused_until_the_menu_returns_to_it(product: Product, browser: Any) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    serving = _serving(product)
    log_in(browser, serving.base_url, "sveta")
    until(lambda: browser.current_url.endswith("/supervisor"), 10, what="the supervisor's desk")
    browser.get(serving.base_url + "/supervisor/menus/hotline")
    wait = WebDriverWait(browser, 10, poll_frequency=0.05)
    wait.until(lambda d: "menu: hotline" in d.find_element(By.ID, "menu-text").get_property("value"))
    text = browser.find_element(By.ID, "menu-text").get_property("value")
    browser.execute_script(
        "const t = document.getElementById('menu-text'); t.value = arguments[0];"
        "t.dispatchEvent(new Event('input'));", text.replace("    timeout: 3 ", "    timeout: 4 ", 1))
    browser.find_element(By.ID, "publish-comment").send_keys("язык: 4 секунды")
    browser.find_element(By.ID, "btn-publish").click()
    wait.until(lambda d: "Опубликована версия v2" in d.find_element(By.ID, "result-status").text)
    assert serving.get("/healthz").json()["menus"]["hotline"]["source"] == "published"

    # Later, somebody edits the file, as the README's "Menus" used to be the only way.
    _add_notice_prompt(product.root)
    menu = product.root / "dialplans" / "hotline.yaml"
    menu.write_text(menu.read_text("utf-8").replace("    prompts: [welcome]\n",
                                                    "    prompts: [welcome, notice.works]\n", 1), "utf-8")
    found = serving.wait_log(r"dialplans/hotline\.yaml changed, but menu 'hotline' serves published v2[^\"]*")
    assert "not used" in found.group(0)
    assert not re.search(r"menus reloaded: hotline v1 \(file", serving.log())
    health = serving.ops_get("/healthz").json()["menus"]["hotline"]
    assert (health["source"], health["version"], health["author"]) == ("published", 2, "sveta")
    public = serving.get("/healthz").json()["menus"]["hotline"]  # anyone's: no author, no path
    assert public == {"version": 2, "source": "published"}, public
    assert NOTICE_RU not in _first_call_prompts(product, serving)  # what serves is the published version
    _, version, source = _menus_page(browser, serving)
    assert version == "v2" and "опубликованная в консоли" in source
    assert "правки файла dialplans/hotline.yaml не используются" in source
    assert "«Вернуться к файлу»" in source  # and how to use them

    # Seen: once a menu was published in the console, nothing could make its file serve again
    # (a roll-back reached only the file as it was before the first publish).
    browser.get(serving.base_url + "/supervisor/menus/hotline")
    wait.until(lambda d: "опубликовано" in d.find_element(By.ID, "live-version").text)
    browser.find_element(By.ID, "btn-to-file").click()
    # The file still says "version: 1" for its new text: its calls would count as v1's.
    wait.until(lambda d: "поднимите version: в файле" in d.find_element(By.ID, "result-status").text)
    assert serving.ops_get("/healthz").json()["menus"]["hotline"]["source"] == "published"
    menu.write_text(menu.read_text("utf-8").replace("version: 1\n", "version: 3\n", 1), "utf-8")
    browser.find_element(By.ID, "btn-to-file").click()
    wait.until(lambda d: "Снова действует файл dialplans/hotline.yaml (v3)" in d.find_element(By.ID, "result-status").text)
    serving.wait_log(r"menus reloaded: hotline v3 \(file ")
    health = serving.ops_get("/healthz").json()["menus"]["hotline"]
    assert (health["source"], health["version"]) == ("file", 3)
    assert NOTICE_RU in _first_call_prompts(product, serving)  # the file's edit serves now
    _, version, source = _menus_page(browser, serving)
    assert version == "v3" and "опубликованная" not in source


def test_the_funnel_tells_a_caller_the_queue_gave_up_and_a_closed_topic_from_self_service(
        product: Product, browser: Any) -> None:
    from selenium.webdriver.common.by import By

    close_payments_for_now(product)
    # General questions give a caller up after 2 s (to the special-case line's overflow rule).
    edit_config(product, "    skills: [general]\n", "    skills: [general]\n    max_wait: 2\n    overflow: special\n")
    serving = _serving(product)

    given_up = product.call(serving)  # nobody on duty: the queue gives the caller up
    to_topics(given_up)
    press(given_up, "0", r"\[consent\.ask_keys\]")
    given_up.expect(KEYS_PROMPT)
    press(given_up, "1", r"music on hold")
    while given_up.expect([r"waiting in queue[^>]*> ", r"\[queue\.full\]"], timeout=30) == 0:
        given_up.sendline("")  # keeps waiting
    given_up.expect(pexpect.EOF)

    closed = product.call(serving)  # payments, whose specialists are off now
    to_topics(closed)
    press(closed, "4", r"\[hours\.closed\]")
    closed.expect(KEYS_PROMPT)
    press(closed, "2", r"\[common\.goodbye\]")
    closed.expect(pexpect.EOF)

    log_in(browser, serving.base_url, "sveta")
    until(lambda: browser.current_url.endswith("/supervisor"), 10, what="the supervisor's desk")
    browser.get(serving.base_url + "/supervisor/funnel")
    summary = until(lambda: browser.find_element(By.ID, "funnel-summary").text, 10, what="the funnel")
    assert summary.startswith("Звонков: 2 (")
    assert "все операторы заняты: 1" in summary and "тема не работает сейчас: 1" in summary
    assert "обслужен меню" not in summary
    # Seen: "клавиша пропуск" for a skipped number, and "клавиша 7" read as the key 7 for
    # seven numbers typed.
    assert browser.find_element(By.CSS_SELECTOR, "#funnel-ask_number .exits").text == "пропустил (#) 2"


def test_a_prompt_edit_the_engine_refuses_is_not_built_for_asterisk(product: Product) -> None:
    """The supervisor renames a prompt the menu still uses and runs ``ivr prompts build`` (the
    step that gives Asterisk its sounds): nothing is built, as the engine refuses the edit;
    so Asterisk's callers never hear a welcome or lose a main menu the engine does not serve."""
    ru = product.root / "prompts" / "ru.yaml"
    ru.write_text(ru.read_text(encoding="utf-8").replace("Здравствуйте!", "СЛОМАНО")
                  .replace("  main: >-", "  mainX: >-"), encoding="utf-8")
    built = product.ivr("prompts", "build", timeout=120)
    assert built.returncode == 1, built.stderr[-2000:]
    assert "prompt 'menu.main' missing in language 'ru'" in built.stderr, built.stderr[-2000:]
    assert "nothing built" in built.stderr
    assert not (product.root / "var" / "sounds" / "ru").exists()  # no sound made from the refused edit
    validated = product.ivr("validate")
    assert validated.returncode != 0 and "menu.main" in validated.stdout + validated.stderr


def test_the_terminal_softphone_hears_the_prompt_texts_the_engine_accepted(product: Product) -> None:
    """Seen: a prompt edit the running engine refused (a prompt the menu uses renamed, the
    welcome reworded) was what ``ivr call`` showed the supervisor who called to check it,
    while every caller behind Asterisk or Twilio still heard the accepted text."""
    serving = _serving(product)
    ru = product.root / "prompts" / "ru.yaml"
    good = ru.read_text(encoding="utf-8")
    ru.write_text(good.replace("Здравствуйте!", "СЛОМАНО").replace("  main: >-", "  mainX: >-"), encoding="utf-8")
    serving.wait_log(r"menu edit refused, still serving hotline v1 \(file [^)]*\): .*menu\.main")
    heard = _first_call_prompts(product, serving)
    assert "Здравствуйте!" in heard and "СЛОМАНО" not in heard, heard
    # The edit fixed and accepted: the next call hears the new words.
    ru.write_text(good.replace("Здравствуйте!", "Добрый день!"), encoding="utf-8")
    serving.wait_log(r"prompt texts reloaded: [^\"]*ru/welcome[ ,]")
    heard = _first_call_prompts(product, serving)
    assert "Добрый день!" in heard and "Здравствуйте!" not in heard, heard


def test_a_config_edit_on_a_running_engine_says_a_restart_applies_it(product: Product) -> None:
    """Queues live in config.yaml, read at start: a supervisor who renames one on a running
    engine is told, in the engine's log, that a restart applies it (found trying the product:
    nothing happened, and nothing said why)."""
    serving = serve_ready(product)
    edit_config(product, "name: Общие вопросы", "name: Общие вопросы и справки")
    serving.wait_log("config.yaml changed since this engine started", timeout=15)
    assert "restart ivr serve to apply them" in serving.log()
    edit_config(product, "name: Общие вопросы и справки", "name: Общие вопросы")
    serving.wait_log("config.yaml is again as this engine started with it", timeout=15)


def test_a_broken_prompt_file_is_named_by_prompts_build(product: Product) -> None:
    """Broken YAML in a prompt file: ``ivr prompts build`` names the file and line and builds
    nothing (not the menu problems a half-read catalogue would cause)."""
    en = product.root / "prompts" / "en.yaml"
    en.write_text(en.read_text(encoding="utf-8") + "b: [oops\n", encoding="utf-8")
    built = product.ivr("prompts", "build", timeout=120)
    assert built.returncode == 1, built.stderr[-2000:]
    assert "en.yaml:" in built.stderr and "invalid YAML" in built.stderr, built.stderr[-2000:]
    assert "the menus cannot use these prompts" not in built.stderr, built.stderr[-2000:]
    assert "nothing built" in built.stderr
