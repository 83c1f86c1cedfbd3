"""In real headless Chromium: a supervisor listens to, whispers into and leaves an operator's
live call from the dashboard's buttons; the operator's page (in English) shows the
supervisor while they whisper, never while they only listen; a call whose channel is gone
is refused on the page.

The engine is real (real Redis, its HTTP server, the console); the call's telephony is the
real AsteriskControl over a loopback AMI server answering as Asterisk 22 does
(tests/asterisk/ami_double.py); the legs are put as AMI's DialEnd puts them.  The same
buttons against the real Asterisk, with the audio: tests/integration/test_supervision_real.py.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ivr.aftermenu import OperatorAnswered
from ivr.aftermenu.legs import Legs
from ivr.asterisk.ami import AmiClient
from ivr.asterisk.control import AsteriskControl
from ivr.config import Config
from ivr.console.users import UserStore
from tests.asterisk.ami_double import AmiDouble
from tests.console.conftest import place_call
from tests.console.live import (
    CHROMEDRIVER,
    CHROMIUM,
    PASSWORD,
    LiveConsole,
    headless_chromium,
    log_in,
)
from tests.redis_servers import RedisServer

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not (os.path.exists(CHROMIUM) and os.path.exists(CHROMEDRIVER)),
                       reason="needs Debian's chromium and chromium-driver"),
]
OPERATOR_CHANNEL = "PJSIP/op102-0000000a"


@pytest.fixture()
def live(config: Config, redis_server: RedisServer, tmp_path: Path) -> Iterator[tuple[LiveConsole, AmiDouble]]:
    hotline = LiveConsole(config, redis_url=redis_server.url, workdir=str(tmp_path)).start()
    ami = AmiDouble()
    client = AmiClient(*ami.address, username="ivr-engine", secret="s3cret", timeout=5)
    hotline.engine.live_controls["asterisk"] = AsteriskControl(ami=client)
    engine = hotline.engine
    UserStore(redis=engine.redis, prefix=engine.config.redis.prefix, configured=engine.config.users,
              operators=engine.config.operators).add("vera", role="supervisor", password=PASSWORD,
                                                     phone="PJSIP/sup201")
    try:
        yield hotline, ami
    finally:
        client.close()
        ami.close()
        hotline.stop()


def wait(driver: Any, condition: Any, timeout: float = 6.0) -> Any:
    from selenium.common.exceptions import StaleElementReferenceException
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(driver, timeout, poll_frequency=0.05,
                         ignored_exceptions=(StaleElementReferenceException,)).until(condition)


def click(driver: Any, element_id: str) -> None:
    """Click a dashboard button; the table is redrawn each second, so a stale one is found again."""
    from selenium.common.exceptions import StaleElementReferenceException
    from selenium.webdriver.common.by import By

    for _ in range(20):
        try:
            driver.find_element(By.ID, element_id).click()
            return
        except StaleElementReferenceException:
            time.sleep(0.05)
    raise AssertionError(f"{element_id} kept being redrawn")


def attr(driver: Any, element_id: str, name: str) -> str:
    from selenium.webdriver.common.by import By

    return str(driver.find_element(By.ID, element_id).get_attribute(name) or "")


def test_listen_whisper_leave_from_the_dashboard_and_the_operator_sees_only_the_whisper(
    live: tuple[LiveConsole, AmiDouble]
) -> None:
    from selenium.webdriver.common.by import By

    hotline, ami = live
    engine = hotline.engine
    with headless_chromium() as operator, headless_chromium() as supervisor:
        operator.get(hotline.base_url + "/login")
        operator.add_cookie({"name": "ivr_lang", "value": "en"})
        log_in(operator, hotline.base_url, "olga")
        wait(operator, lambda d: d.current_url.endswith("/operator"))
        wait(operator, lambda d: d.find_element(By.ID, "connection").text == "connected")
        operator.find_element(By.ID, "go-ready").click()
        wait(operator, lambda d: attr(d, "state", "data-state") == "available")
        place_call(engine, "call-1")  # payments: op102 (olga)
        wait(operator, lambda d: not d.find_element(By.ID, "pop").get_attribute("hidden"))
        engine.call_life.apply(OperatorAnswered("call-1", Legs(
            "call-1", "asterisk", "op102", caller="PJSIP/trunk-00000009", operator=OPERATOR_CHANNEL,
            since=engine.clock())))

        log_in(supervisor, hotline.base_url, "vera")
        supervisor.get(hotline.base_url + "/supervisor")
        assert "PJSIP/sup201" in supervisor.find_element(By.ID, "supervise-phone").text
        wait(supervisor, lambda d: d.find_elements(By.ID, "supervise-op102-listen"))
        assert [b.text for b in supervisor.find_elements(By.CSS_SELECTOR, "#op-op102 button.supervise")] == [
            "Слушать", "Подсказать", "Вмешаться"]

        click(supervisor, "supervise-op102-listen")
        wait(supervisor, lambda d: attr(d, "supervise", "data-mode") == "listen")
        assert ami.named("Originate")[-1]["Data"] == f"{OPERATOR_CHANNEL},quES"
        wait(supervisor, lambda d: "слушаю" in d.find_element(By.ID, "supervise-state").text)
        wait(supervisor, lambda d: "active" in attr(d, "supervise-op102-listen", "class"))
        time.sleep(2.5)  # the operator's page looks each second: still nothing to show
        assert operator.find_element(By.ID, "supervisor-on-call").get_attribute("hidden") is not None

        click(supervisor, "supervise-op102-whisper")
        wait(supervisor, lambda d: attr(d, "supervise", "data-mode") == "whisper")
        assert ami.named("Hangup")[-1]["Channel"] == ami.named("Originate")[0]["ChannelId"]
        assert ami.named("Originate")[-1]["Data"] == f"{OPERATOR_CHANNEL},quESw"
        wait(operator, lambda d: attr(d, "supervisor-on-call", "data-mode") == "whisper", timeout=4)
        banner = operator.find_element(By.ID, "supervisor-on-call")
        assert banner.is_displayed()
        assert banner.text == "Supervisor vera is whispering to you: only you hear them"

        click(supervisor, "supervise-stop")
        wait(supervisor, lambda d: attr(d, "supervise", "data-mode") == "")
        assert ami.named("Hangup")[-1]["Channel"] == ami.named("Originate")[-1]["ChannelId"]
        wait(operator, lambda d: d.find_element(By.ID, "supervisor-on-call").get_attribute("hidden") is not None,
             timeout=4)
        assert supervisor.find_element(By.ID, "supervise-state").text == "Вы ни к одному разговору не подключены."

        # A click while the last request is on its way waits its turn (seen in CI: a leave still
        # answering, the dashboard already showing none, and the next click silently dropped).
        click(supervisor, "supervise-op102-listen")
        wait(supervisor, lambda d: attr(d, "supervise", "data-mode") == "listen")
        wait(supervisor, lambda d: d.find_element(By.ID, "supervise-stop").is_displayed())
        ami.reply = lambda action: time.sleep(1.0) if action["Action"] == "Hangup" else None  # a slow hang-up
        click(supervisor, "supervise-stop")
        click(supervisor, "supervise-op102-barge")  # at once, the leave unanswered
        wait(supervisor, lambda d: attr(d, "supervise", "data-mode") == "barge", timeout=8)
        assert ami.named("Originate")[-1]["Data"] == f"{OPERATOR_CHANNEL},quESB"
        ami.reply = lambda action: None
        wait(supervisor, lambda d: d.find_element(By.ID, "supervise-stop").is_displayed())
        click(supervisor, "supervise-stop")
        wait(supervisor, lambda d: attr(d, "supervise", "data-mode") == "")

        # The operator's channel went a moment ago (Asterisk: "No such channel"): refused on the page.
        ami.reply = lambda action: "No such channel" if action["Action"] == "Getvar" else None
        originated = len(ami.named("Originate"))
        click(supervisor, "supervise-op102-barge")
        wait(supervisor, lambda d: attr(d, "supervise-error", "data-error") == "call_not_live")
        assert supervisor.find_element(By.ID, "supervise-error").text == "Разговор уже окончен"
        assert len(ami.named("Originate")) == originated
        assert attr(supervisor, "supervise", "data-mode") == ""
