"""An operator who does not answer, on the README's defaults (no AMI: only the console's
"answered" button says a conversation began): the phone rings past ``routing.ring_seconds``;
the citizen is not lost to a separate queue but waits at the head of our line, and the
operator's page says why they are no longer ready."""

from __future__ import annotations

import json
import time
from typing import Any

from tests.journeys.product import Product, until
from tests.journeys.test_operator_day import PASSWORD, log_in, state, text_of, wait
from tests.journeys.test_softphone import reach_the_queue

RING_SECONDS = 15  # config.yaml's routing.ring_seconds


def general_queue(product: Product) -> dict[str, Any]:
    report = product.ivr("queues", "--json")
    assert report.returncode == 0, report.stderr
    data = json.loads(report.stdout)
    queues = data["queues"] if isinstance(data, dict) else data
    return next(q for q in queues if q["queue"] == "general")


def test_a_missed_call_keeps_the_head_of_the_line_and_the_operator_sees_why(
    product: Product, browser: Any
) -> None:
    from selenium.webdriver.common.by import By

    added = product.ivr("users", "add", "olga", "--role", "operator", "--operator", "op101",
                        input=PASSWORD + "\n")
    assert added.returncode == 0, added.stderr
    serving = product.serve()
    log_in(browser, serving, "olga")
    wait(browser, lambda d: d.current_url.endswith("/operator"))
    wait(browser, lambda d: text_of(d, "connection") == "на связи")
    browser.find_element(By.ID, "go-ready").click()
    wait(browser, lambda d: state(d) == "available")

    phone = product.call(serving)
    call_id = reach_the_queue(phone, consent="2")
    phone.expect_exact("Connected to operator op101")
    wait(browser, lambda d: d.find_element(By.ID, "pop").get_attribute("data-call") == call_id)
    rang_at = time.monotonic()
    # Olga does not press "answered".
    wait(browser, lambda d: state(d) == "offline", timeout=RING_SECONDS + 15)
    assert time.monotonic() - rang_at >= RING_SECONDS - 2  # not before the ring time
    assert text_of(browser, "state").lower() == "не готов — пропущенный вызов"
    assert "вернулся в начало очереди" in text_of(browser, "pop-call-state")

    def back_in_line() -> dict[str, Any] | None:
        queue = general_queue(product)
        return queue if queue["waiting"] == 1 else None

    general = until(back_in_line, 10, what="the caller back in line")
    assert general["waiting"] == 1  # at the head: nobody else waits
    assert "missed call" in serving.log() or "did not answer" in serving.log()
    phone.send("h")
    phone.close()
