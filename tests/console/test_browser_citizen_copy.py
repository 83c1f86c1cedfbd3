"""In real headless Chromium: the auditor asks for a citizen's copy from the recordings page; the
archive downloads, the page says what it holds, and the console's access log shows the request."""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ivr.config import Config
from tests.console.live import CHROMEDRIVER, CHROMIUM, LiveConsole, chromium, log_in
from tests.redis_servers import RedisServer

pytestmark = [pytest.mark.browser]
INN = "000082246517"  # synthetic (region 00 is never issued)


@pytest.fixture()
def downloads() -> Iterator[tuple[Any, Path]]:
    if not (os.path.exists(CHROMIUM) and os.path.exists(CHROMEDRIVER)):
        pytest.fail("needs Debian's chromium and chromium-driver (scripts/setup.sh --test)")
    with tempfile.TemporaryDirectory(prefix="ivr-chromium-") as profile, \
            tempfile.TemporaryDirectory(prefix="ivr-downloads-") as saved:
        browser = chromium(profile)
        browser.execute_cdp_cmd("Page.setDownloadBehavior", {"behavior": "allow", "downloadPath": saved})
        try:
            yield browser, Path(saved)
        finally:
            browser.quit()


def test_the_auditor_makes_a_citizens_copy_from_the_page(downloads: tuple[Any, Path], config: Config,
                                                        redis_server: RedisServer, tmp_path: Path) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select, WebDriverWait

    driver, saved = downloads
    live = LiveConsole(config, redis_url=redis_server.url, workdir=str(tmp_path)).start()
    try:
        log_in(driver, live.base_url, "anton")
        driver.get(live.base_url + "/auditor/recordings")
        Select(driver.find_element(By.ID, "copy-by")).select_by_value("inn")
        # Seen: "not a valid inn: length" on the Russian page.
        driver.find_element(By.ID, "copy-value").send_keys("1234")
        driver.find_element(By.ID, "copy-reason").send_keys("вх. № 11 от 06.12")
        driver.find_element(By.CSS_SELECTOR, "#copy-form button[type=submit]").click()
        WebDriverWait(driver, 10).until(lambda d: d.find_element(By.ID, "copy-status").text == "ИНН: не то число цифр")
        driver.find_element(By.ID, "copy-value").clear()
        driver.find_element(By.ID, "copy-reason").clear()
        driver.find_element(By.ID, "copy-value").send_keys(INN)
        driver.find_element(By.ID, "copy-reason").send_keys("вх. № 12 от 06.12")
        driver.find_element(By.CSS_SELECTOR, "#copy-form button[type=submit]").click()
        status = WebDriverWait(driver, 10).until(
            lambda d: (text := d.find_element(By.ID, "copy-status").text).startswith("Архив") and text)
        assert status.startswith("Архив copy-") and "обращений 0, записей 0" in status, status
        assert driver.find_element(By.ID, "copy-value").get_attribute("value") == ""
        zips = WebDriverWait(driver, 10).until(lambda d: [p for p in saved.iterdir() if p.suffix == ".zip"])
        assert zips[0].name == status.split()[1].rstrip(":")
        WebDriverWait(driver, 10).until(
            lambda d: "копия данных гражданину" in d.find_element(By.ID, "audit").text)
        lines = [json.loads(x) for x in (tmp_path / "audit" / "console.jsonl").read_text().splitlines()]
        assert [x["action"] for x in lines] == ["citizen_copy"] * 3  # the refusal, then the copy
        assert INN not in json.dumps(lines)
    finally:
        live.stop()
