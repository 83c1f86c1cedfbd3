"""In real headless Chromium: an operator who keeps opening other operators' calls is blocked
at once, the security officer sees it, and a supervisor unblocks her (issue 20, "Blocking")."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ivr.config import Config
from tests.console.live import LiveConsole, headless_chromium, log_in
from tests.redis_servers import RedisServer

pytestmark = [pytest.mark.browser]


@pytest.fixture()
def driver() -> Iterator[Any]:
    with headless_chromium() as browser:
        yield browser


@pytest.fixture()
def live(config: Config, redis_server: RedisServer, tmp_path: Path) -> Iterator[LiveConsole]:
    hotline = LiveConsole(config, redis_url=redis_server.url, workdir=str(tmp_path)).start()
    try:
        yield hotline
    finally:
        hotline.stop()


def wait_for(driver: Any, condition: Any, timeout: float = 5.0) -> Any:
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(driver, timeout, poll_frequency=0.05).until(condition)


def log_out(driver: Any) -> None:
    from selenium.webdriver.common.by import By

    driver.find_element(By.ID, "logout").click()
    wait_for(driver, lambda d: d.current_url.endswith("/login"))


def test_an_operator_blocked_for_other_calls_is_unblocked_by_a_supervisor(driver: Any, live: LiveConsole) -> None:
    from selenium.webdriver.common.by import By

    base = live.base_url
    log_in(driver, base, "olga")
    wait_for(driver, lambda d: d.current_url.endswith("/operator"))
    for n in range(live.engine.config.console.block_after):  # she types other calls' addresses
        driver.get(f"{base}/operator/api/calls/1773824400.{n}")
        assert "not_your_call" in driver.page_source
    driver.get(base + "/operator")  # her session has ended
    wait_for(driver, lambda d: "/login" in d.current_url)
    log_in(driver, base, "olga")
    error = wait_for(driver, lambda d: d.find_elements(By.ID, "login-error"))
    assert "заблокирована" in error[0].text

    log_in(driver, base, "anton")  # the security officer sees it
    wait_for(driver, lambda d: d.current_url.endswith("/auditor/recordings"))
    driver.find_element(By.ID, "nav-accounts").click()
    wait_for(driver, lambda d: d.current_url.endswith("/auditor/accounts"))
    row = driver.find_element(By.CSS_SELECTOR, '#blocked-accounts tr[data-user="olga"]')
    assert "чужой вызов" in row.text and not driver.find_elements(By.CSS_SELECTOR, "button.unblock")
    log_out(driver)

    log_in(driver, base, "sveta")  # a supervisor unblocks her
    wait_for(driver, lambda d: d.current_url.endswith("/supervisor"))
    driver.find_element(By.ID, "nav-accounts").click()
    wait_for(driver, lambda d: d.current_url.endswith("/supervisor/accounts"))
    driver.find_element(By.ID, "unblock-olga").click()
    wait_for(driver, lambda d: d.find_elements(By.ID, "no-blocked-accounts"))
    log_out(driver)

    log_in(driver, base, "olga")
    wait_for(driver, lambda d: d.current_url.endswith("/operator"))
