"""Callbacks on the README's defaults (no AMI): offered only where one can be placed, and
delivered to the terminal softphone that booked it."""

from __future__ import annotations

import time
from typing import Any, ClassVar

import pexpect

from ivr.asterisk.peer import AsteriskPeer, CallerHangsUp, default_env, dial
from tests.journeys.product import Product
from tests.journeys.test_operator_day import PASSWORD, log_in, state, text_of, wait
from tests.journeys.test_softphone import reach_the_queue


class AsteriskCaller:
    """A citizen on a real line, through an Asterisk without AMI (the dialplan's AGI, as
    Asterisk 22 speaks it): asks for an operator, agrees to be recorded, hangs up once on hold."""

    ANSWERS: ClassVar[dict[str, str]] = {"language.choose": "1", "identity.enter_number": "#", "menu.main": "0", "consent.ask_keys": "1"}

    def __init__(self) -> None:
        self.heard: list[str] = []
        self.on_hold = False

    def hear(self, kind: str, what: str, escape: str) -> str | None:
        self.heard.append(what.rsplit("/", 1)[-1])
        return None

    def wait_key(self, ms: int) -> str | None:
        if self.on_hold:
            raise CallerHangsUp
        key = self.ANSWERS.get(self.heard[-1] if self.heard else "")
        if key is not None:
            self.heard.append(f"pressed {key}")
            return key
        time.sleep(min(ms, 200) / 1000)
        return None

    def speak(self, max_ms: int, escape: str) -> str | None:
        return None

    def event(self, text: str) -> None:
        self.on_hold = self.on_hold or text.startswith("StartMusicOnHold")


def callback_offered_to_olga(product: Product, browser: Any) -> tuple[Any, Any, str]:
    """Olga (op101) logs in; a citizen on the softphone asks to be called back on their own
    number and waits for it; she goes ready and the callback's pop comes to her.  (The
    serving engine, the citizen's phone, the call id.)"""
    from selenium.webdriver.common.by import By

    added = product.ivr("users", "add", "olga", "--role", "operator", "--operator", "op101", input=PASSWORD + "\n")
    assert added.returncode == 0, added.stderr
    serving = product.serve()
    phone = product.call(serving, timeout=30)
    call_id = reach_the_queue(phone, consent="1")
    phone.expect_exact("[queue.callback_offer]")
    phone.send("1")  # "call me back"
    phone.expect_exact("[callback.confirm_number]")
    phone.send("1")  # on this number
    phone.expect_exact("[callback.booked]")
    phone.expect_exact("Waiting for the hotline's callback")
    log_in(browser, serving, "olga")
    wait(browser, lambda d: text_of(d, "connection") == "на связи")
    browser.find_element(By.ID, "go-ready").click()
    wait(browser, lambda d: d.find_element(By.ID, "pop").get_attribute("data-call") == call_id)
    return serving, phone, call_id


def test_no_callback_is_offered_where_none_can_be_placed(product: Product) -> None:
    serving = product.serve()
    serving.wait_log(r"callbacks: asterisk.ami is not set")
    citizen = AsteriskCaller()
    env = default_env(caller="79990000002", uniqueid=f"{int(time.time())}.7", port=serving.fastagi)
    dial("127.0.0.1", serving.fastagi, AsteriskPeer(citizen, env=env), env, timeout=30)
    assert "queue.position" in citizen.heard and citizen.on_hold
    assert "queue.callback_offer" not in citizen.heard  # no AMI: nothing could ring them back


def test_a_callback_booked_on_the_softphone_rings_it_when_an_operator_is_free(product: Product,
                                                                              browser: Any) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    serving, phone, _call_id = callback_offered_to_olga(product, browser)
    assert text_of(browser, "pop-kind") == "Обратный звонок"
    assert not browser.find_element(By.ID, "pop-answered").is_displayed()  # the citizen answers, not the operator

    phone.expect_exact("is calling back")
    phone.send("a")
    phone.expect_exact("Connected to the operator")
    wait(browser, lambda d: state(d) == "on_call")
    assert text_of(browser, "pop-call-state") == "на связи"
    phone.send("h")
    phone.expect_exact("Call ended.")
    phone.expect(pexpect.EOF)
    wait(browser, lambda d: state(d) == "wrap_up")  # the citizen's hang-up ended the conversation
    assert text_of(browser, "pop-call-state") == "разговор окончен"
    Select(browser.find_element(By.ID, "wrap-result")).select_by_value("consulted")
    Select(browser.find_element(By.ID, "wrap-status")).select_by_value("completed")
    browser.find_element(By.ID, "wrap-submit").click()
    wait(browser, lambda d: d.find_element(By.ID, "done").is_displayed())
    assert "not answered" not in serving.log()


def test_a_declined_callback_tells_the_operator_and_frees_her(product: Product, browser: Any) -> None:
    """Seen: the citizen declined the ring; routing freed the operator and kept the callback
    for later, but her page stayed on "dialling the caller..." and, reloaded, asked her to
    wrap up a conversation that never took place."""

    _serving, phone, _call_id = callback_offered_to_olga(product, browser)
    phone.expect_exact("is calling back")
    phone.send("h")  # declined
    phone.expect_exact("Declined; the hotline will try again later.")
    wait(browser, lambda d: text_of(d, "pop-call-state")
         == "абонент не ответил на обратный звонок: он будет набран позже")
    wait(browser, lambda d: state(d) == "available")
    browser.refresh()  # and after a reload: the same words, not "conversation over"
    wait(browser, lambda d: text_of(d, "connection") == "на связи")
    wait(browser, lambda d: text_of(d, "pop-call-state")
         == "абонент не ответил на обратный звонок: он будет набран позже")
    phone.send("h")  # the citizen stops waiting
    phone.expect(pexpect.EOF)
