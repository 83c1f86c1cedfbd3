"""In real headless Chromium: the operator pauses and resumes the recording from the screen-pop.

The hotline of tests/console/live.py (real engine with a recording key, real Redis, calls
through FastAGI) with the engine's AsteriskControl over a real AMI client to a loopback AMI
answering MixMonitorMute as Asterisk 22 does (tests/console/mute_ami.py).  The operator
answers as AMI's DialEnd says it (the legs kept), then sees: no button on a call the caller
did not consent to record; on a recorded one the button, a double click that pauses once,
"запись приостановлена", the state kept through a reload into English, resume, AMI failing
(said, the state as it was), and the button gone when the call ends.  The auditor's list of
recordings says where each one was paused and by whom.
"""

from __future__ import annotations

import base64
import json
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ivr.aftermenu import ConversationEnded, OperatorAnswered
from ivr.aftermenu.legs import Legs
from ivr.config import Config
from ivr.recordings.meta import Consent, PausedSpan
from tests.console.live import CHROMEDRIVER, CHROMIUM, LiveConsole, headless_chromium, log_in
from tests.console.mute_ami import MuteAmi, asterisk_control
from tests.console.test_browser import text_of, wait
from tests.redis_servers import RedisServer

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not (os.path.exists(CHROMIUM) and os.path.exists(CHROMEDRIVER)),
                       reason="needs Debian's chromium and chromium-driver"),
]
INN = "000082246517"  # synthetic (region 00 is never issued)
TRUNK = "PJSIP/trunk-00000031"


@pytest.fixture()
def live(config: Config, redis_server: RedisServer, tmp_path: Path) -> Iterator[tuple[LiveConsole, MuteAmi]]:
    key = "k1:" + base64.b64encode(os.urandom(32)).decode()
    hotline = LiveConsole(config, redis_url=redis_server.url, workdir=str(tmp_path), wrap_up_seconds=1,
                          recording_key=key).start()
    ami = MuteAmi()
    client = asterisk_control(hotline.engine, ami, timeout=1.0)
    try:
        yield hotline, ami
    finally:
        client.close()
        ami.close()
        hotline.stop()


def answered(live: LiveConsole, call_id: str) -> None:
    """op102's phone answered: the AMI watcher's ``DialEnd ANSWER`` (the legs kept)."""
    live.engine.call_life.apply(OperatorAnswered(call_id, Legs(
        call_id, "asterisk", "op102", caller=TRUNK, operator="PJSIP/op102-00000032", since=live.engine.clock())))


def pause_lines(live: LiveConsole) -> list[tuple[str, str]]:
    path = Path(live.engine.config.path(live.engine.config.console.audit_log))
    lines = [json.loads(x) for x in path.read_text().splitlines()]
    return [(x["action"], x["outcome"]) for x in lines if x["action"].endswith("_recording")]


def shown(driver: Any, element_id: str) -> bool:
    from selenium.webdriver.common.by import By

    return bool(driver.find_element(By.ID, element_id).is_displayed())


def test_the_operator_pauses_and_resumes_the_recording_from_the_screen_pop(
        live: tuple[LiveConsole, MuteAmi]) -> None:
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    hotline, ami = live
    with headless_chromium() as driver:
        log_in(driver, hotline.base_url, "olga")
        wait(driver, lambda d: text_of(d, "connection") == "на связи")
        driver.find_element(By.ID, "go-ready").click()
        wait(driver, lambda d: d.find_element(By.ID, "state").get_attribute("data-state") == "available")

        # A caller who said "no" to recording: no button.
        call_id, _, _ = hotline.call("1" + INN + "#" + "1" + "4" + "2", call_id="1773824400.1")
        wait(driver, lambda d: d.find_element(By.ID, "pop").get_attribute("data-call") == call_id, timeout=10)
        answered(hotline, call_id)
        wait(driver, lambda d: d.find_element(By.ID, "pop-call-state").get_attribute("data-call-state") == "connected")
        assert text_of(driver, "pop-recording") == "не записывается (нет согласия)"
        assert not shown(driver, "pop-pause")
        hotline.engine.call_life.apply(ConversationEnded(call_id))
        Select(driver.find_element(By.ID, "wrap-result")).select_by_value("resolved")
        Select(driver.find_element(By.ID, "wrap-status")).select_by_value("completed")
        driver.find_element(By.ID, "wrap-submit").click()
        wait(driver, lambda d: d.find_element(By.ID, "state").get_attribute("data-state") == "available", timeout=6)

        # A recorded call: the button, and a double click that pauses once.
        call_id, _, _ = hotline.call("1" + INN + "#" + "1" + "4" + "1", call_id="1773824400.2")
        wait(driver, lambda d: d.find_element(By.ID, "pop").get_attribute("data-call") == call_id, timeout=10)
        # Ringing: not "being recorded" yet (found trying the product: it said so before and after).
        assert text_of(driver, "pop-recording") == "будет записан, когда разговор начнётся"
        answered(hotline, call_id)
        wait(driver, lambda d: d.find_element(By.ID, "pop-call-state").get_attribute("data-call-state") == "connected")
        button = driver.find_element(By.ID, "pop-pause")
        assert button.is_displayed() and button.text == "⏸ Приостановить запись"
        assert text_of(driver, "pop-recording") == "идёт запись разговора"
        ActionChains(driver).double_click(button).perform()
        wait(driver, lambda d: d.find_element(By.ID, "pop-recording").get_attribute("data-paused") == "1")
        time.sleep(0.5)  # a second request, if the page sent one, has been answered by now
        assert text_of(driver, "pop-recording") == "запись приостановлена"
        assert button.text == "⏺ Возобновить запись"
        assert not shown(driver, "pop-pause-error")
        assert ami.mutes() == [(TRUNK, "both", "1")]
        assert pause_lines(hotline) == [("pause_recording", "allowed")]

        # The state survives a reload, here into English.
        driver.find_element(By.ID, "language-switch").click()
        wait(driver, lambda d: text_of(d, "pop-recording") == "recording paused")
        assert text_of(driver, "pop-pause") == "⏺ Resume recording"
        driver.find_element(By.ID, "pop-pause").click()
        wait(driver, lambda d: text_of(d, "pop-recording") == "being recorded")
        assert text_of(driver, "pop-pause") == "⏸ Pause recording"
        assert ami.mutes()[-1] == (TRUNK, "both", "0")

        # AMI refuses: the page says so and the recording is as it was.
        ami.answer = "no_mixmonitor"
        driver.find_element(By.ID, "pop-pause").click()
        wait(driver, lambda d: shown(d, "pop-pause-error"))
        assert text_of(driver, "pop-pause-error") == "The telephony did not answer: the recording goes on as before"
        assert text_of(driver, "pop-recording") == "being recorded"
        assert driver.find_element(By.ID, "pop-recording").get_attribute("data-paused") == ""
        assert not hotline.engine.recordings.pauses.state(call_id).paused

        # The call ends: the button goes.
        hotline.engine.call_life.apply(ConversationEnded(call_id))
        wait(driver, lambda d: d.find_element(By.ID, "pop-call-state").get_attribute("data-call-state") == "ended")
        assert not shown(driver, "pop-pause")
        assert text_of(driver, "pop-recording") == "recorded (conversation over)"
    assert pause_lines(hotline) == [("pause_recording", "allowed"), ("resume_recording", "allowed"),
                                    ("pause_recording", "allowed"), ("pause_recording", "failed")]


def test_the_auditor_sees_where_a_recording_was_paused_and_by_whom(live: tuple[LiveConsole, MuteAmi]) -> None:
    from selenium.webdriver.common.by import By

    hotline, _ = live
    store = hotline.engine.recordings.store
    at = hotline.engine.clock()
    consent = Consent(granted=True, at=at, method="key", recognised="1", language="ru")
    paused = store.ingest(b"RIFF" + os.urandom(3000), call_id="1773824400.3", consent=consent, operator="op102",
                          queue="payments", paused=(PausedSpan(65.0, 82.4, at + 65, at + 82.4, "olga", "sveta"),
                                                    PausedSpan(130.0, None, at + 130, None, "olga")))
    plain = store.ingest(b"RIFF" + os.urandom(3000), call_id="1773824400.4", consent=consent, operator="op102")
    with headless_chromium() as driver:
        log_in(driver, hotline.base_url, "anton")
        wait(driver, lambda d: d.current_url.endswith("/auditor/recordings"))
        row = wait(driver, lambda d: d.find_elements(By.CSS_SELECTOR, f"#rec-{paused.id} .rec-paused"))[0]
        assert row.text == ("1:05–1:22 (приостановил olga, возобновил sveta); "
                            "2:10–конец (приостановил olga; разговор окончен на паузе)")
        assert driver.find_element(By.CSS_SELECTOR, f"#rec-{plain.id} .rec-paused").text == "нет"
