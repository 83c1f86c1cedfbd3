"""An operator who does not answer, on the README's defaults (no AMI: only the console's
"answered" button says a conversation began): the phone rings past ``routing.ring_seconds``;
the citizen is not lost to a separate queue but waits at the head of our line, and the
operator's page says why they are no longer ready."""

from __future__ import annotations

import json
import re
import time
from typing import Any

from tests.journeys.product import Product, Serving, http_session, until
from tests.journeys.test_operator_day import PASSWORD, log_in, state, text_of, wait
from tests.journeys.test_softphone import reach_the_queue

RING_SECONDS = 15  # config.yaml's routing.ring_seconds


def general_queue(product: Product) -> dict[str, Any]:
    report = product.ivr("queues", "--json")
    assert report.returncode == 0, report.stderr
    data = json.loads(report.stdout)
    queues = data["queues"] if isinstance(data, dict) else data
    return next(q for q in queues if q["queue"] == "general")


def olga_rung(product: Product, browser: Any, *others: tuple[str, str]) -> tuple[Serving, Any, str]:
    """The README's engine with Olga (op101) and ``others`` (user, operator) as operators;
    Olga logged in and ready, a softphone caller in the general queue put through to her
    phone and her pop showing the call: (the engine, the phone, the call id)."""
    from selenium.webdriver.common.by import By

    for user, operator in (("olga", "op101"), *others):
        added = product.ivr("users", "add", user, "--role", "operator", "--operator", operator,
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
    # Found trying the softphone: it said "talking" while the operator's phone still rang.
    phone.expect_exact("their phone rings until they answer in the console")
    wait(browser, lambda d: d.find_element(By.ID, "pop").get_attribute("data-call") == call_id)
    return serving, phone, call_id


def test_a_missed_call_keeps_the_head_of_the_line_and_the_operator_sees_why(
    product: Product, browser: Any
) -> None:
    serving, phone, _ = olga_rung(product, browser)
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

    # The supervisor's funnel: one call, which nobody talked to (found trying the product: the
    # call counted once as connected when it went to Olga's phone, then again as abandoned).
    added = product.ivr("users", "add", "sveta", "--role", "supervisor", input=PASSWORD + "\n")
    assert added.returncode == 0, added.stderr
    supervisor = http_session(serving, "sveta", PASSWORD)

    def funnel() -> dict[str, Any] | None:
        table = supervisor.get(serving.base_url + "/supervisor/api/funnel?menu=hotline&days=1", timeout=10).json()
        return table if table["outcomes"].get("abandoned") else None

    table = until(funnel, 15, what="the abandoned call in the funnel")
    assert table["calls"] == 1 and table["outcomes"] == {"abandoned": 1}, table


def test_the_softphone_caller_an_operator_missed_is_handed_to_the_next_one(product: Product, browser: Any) -> None:
    """As Asterisk's caller is after Dial: the softphone caller whose operator let the phone
    ring past the ring time hears they are back in line (first), holds, and is put through
    to the next operator who is ready, who answers; the menu's appeal number stays the call's."""
    from selenium.webdriver.common.by import By

    from tests.console.live import headless_chromium

    serving, phone, call_id = olga_rung(product, browser, ("pavel", "op104"))  # both in the general queue
    appeal, topic = text_of(browser, "pop-appeal"), text_of(browser, "pop-topic")
    assert appeal and topic
    with headless_chromium() as second:
        # Pavel gets ready while Olga's phone rings; Olga does not press "answered".
        log_in(second, serving, "pavel")
        wait(second, lambda d: d.current_url.endswith("/operator"))
        wait(second, lambda d: text_of(d, "connection") == "на связи")
        second.find_element(By.ID, "go-ready").click()
        wait(second, lambda d: state(d) == "available")

        phone.expect_exact(f"Operator op101 did not answer: back in line (call {call_id})", timeout=RING_SECONDS + 15)
        phone.expect_exact("[queue.position]")  # "you are number ..."
        phone.expect_exact("[number.1]")  # "... one": the head of the line
        # ... and their appeal number, which a call put through at once had never heard
        # (found trying the product: a caller whose operator missed them hung up without it).
        phone.expect_exact("[common.your_appeal]")
        phone.expect_exact("Connected to operator op104", timeout=30)
        told = str(phone.before).split("♫")[0]
        assert "".join(re.findall(r"\[number\.(\d)\]", told)) == re.sub(r"\D", "", appeal), (told, appeal)
        wait(second, lambda d: d.find_element(By.ID, "pop").get_attribute("data-call") == call_id)
        assert (text_of(second, "pop-appeal"), text_of(second, "pop-topic")) == (appeal, topic)  # what was collected
        second.find_element(By.ID, "pop-answered").click()
        wait(second, lambda d: state(d) == "on_call")
        assert text_of(second, "pop-call-state") == "на связи"
        wait(browser, lambda d: state(d) == "offline")
        assert text_of(browser, "state").lower() == "не готов — пропущенный вызов"
        phone.send("h")
        phone.expect_exact("Call ended.")
        phone.close()


def test_a_citizen_who_hangs_up_mid_conversation_ends_it_on_the_operators_console(
    product: Product, browser: Any
) -> None:
    """Found trying the softphone: the citizen hung up, and Olga's console still said "на
    связи", her state "on a call", until she wrapped up by hand.  The softphone now says
    the call is over as the dialplan's h extension does."""
    from selenium.webdriver.common.by import By

    _, phone, _ = olga_rung(product, browser)
    browser.find_element(By.ID, "pop-answered").click()
    wait(browser, lambda d: state(d) == "on_call")
    phone.send("h")
    phone.expect_exact("Call ended.")
    phone.close()
    wait(browser, lambda d: state(d) == "wrap_up", timeout=5)
    assert text_of(browser, "pop-call-state") == "разговор окончен"


def test_a_softphone_caller_who_hangs_up_while_it_rings_is_not_offered_to_the_next_operator(
    product: Product, browser: Any
) -> None:
    """The citizen gives up while Olga's phone rings (no AMI: the softphone says so, as the
    dialplan's h extension does).  Olga is free again at once, with no miss counted against
    her, and the call is not put back in line and handed to Pavel, then to the next one."""
    from tests.journeys.test_asterisk_guide import Console

    serving, phone, _ = olga_rung(product, browser, ("pavel", "op104"))
    pavel = Console(serving.base_url)
    pavel.log_in("pavel", PASSWORD)
    pavel.set_state("ready")
    phone.send("h")  # gives up while it rings
    phone.expect_exact("Call ended.")
    phone.close()

    wait(browser, lambda d: state(d) == "available", timeout=5)  # free again: not a miss
    assert text_of(browser, "pop-call-state") == "абонент положил трубку"

    def general_now() -> dict[str, Any]:
        queues = serving.ops_get("/queues").json()["queues"]
        return dict(next(q for q in queues if q["queue"] == "general"))

    time.sleep(RING_SECONDS + 3)  # past Olga's ring time, and what would be Pavel's
    general = general_now()
    assert general["waiting"] == 0
    assert (general["operators"]["available"], general["operators"]["offline"]) == (2, 2), general
    assert state(browser) == "available"  # the ring time passing counts no miss either
