"""Transfer and the second line on a real Asterisk 22 (issue 18, section 2).

Asterisk boots the shipped dialplans/asterisk/*.conf (hotline_conf.py); the engine is the
one ``ivr serve`` runs, with AMI; the operators are two sipp phones registered as op101 and
op102 (``PJSIP/op101``, ``PJSIP/op102``, as config.yaml names them), and each clicks in
the console (the Flask app of the engine, logged in as that operator).  The citizen walks
the menu into the general queue (hotline_calls.Citizen).  op101 answers, then transfers:

* blind to the second line (op102 ready): AMI Redirect, the engine holds the caller at the
  head of that line and hands them to op102's phone; op102's screen-pop has everything the
  menu collected and who transferred, when, with which note;
* warm to op102 (Atxfer): op102's phone answers the consultation while the caller holds;
  "complete" hangs up op101's leg and the caller talks to op102;
* warm, cancelled (CancelAtxfer): op102 is released, the caller is op101's again;
* warm to an operator whose phone is not registered: the consultation's Dial fails
  (CHANUNAVAIL) and routing releases him by itself;
* a transfer clicked as the caller hangs up: refused clearly, nothing left reserved.
"""

from __future__ import annotations

import base64
import dataclasses
import json
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from agi_calls import wait_no_channels
from ami_client import AmiClient
from asterisk_harness import REPO_ROOT, AsteriskHarness
from hotline_calls import Citizen, EventLog, engine_serving
from hotline_conf import ENGINE_AMI_SECRET, ENGINE_AMI_USER
from sipp_runner import SIPP_DIR, Sipp
from werkzeug.security import generate_password_hash

from ivr.asterisk.wiring import ami_services, fastagi_server
from ivr.config import Secrets
from ivr.config.load import load_config
from ivr.config.schema import UserConfig
from ivr.engine import Engine, build_engine
from ivr.prompts.build import build_prompts
from ivr.prompts.catalog import load_catalog
from ivr.web.app import create_app
from routing.errors import RoutingError
from tests.console.conftest import PASSWORD, Console
from tests.console.live import headless_chromium, log_in
from tests.embedded import embedded_redis
from tests.journeys.product import free_port

pytestmark = pytest.mark.asterisk

NOON = 1773824400.0  # Wednesday 18 March 2026, 12:00 Moscow: every queue is open
SOUNDS_IN_CHROOT = "usr/share/asterisk/sounds/ivr"
OPERATOR_PASSWORD = "CHANGE-ME"  # the shipped pjsip.conf's placeholder, as the tier boots it
INN = "000082246517"  # synthetic (region 00)
USERS = {"anna": "op101", "boris": "op102", "vera": "op103"}
# The phones' address: not 127.0.0.1, which the tier's trunk is identified by (a REGISTER
# from there would be the carrier's: 404).
PHONES_IP = "127.0.0.3"
RECORDING_KEY = "k1:" + base64.b64encode(bytes(range(32))).decode()  # a test key: the consented call is recorded


@dataclass
class Desk:
    engine: Engine
    ami: AmiClient  # the test's own AMI session
    log: EventLog
    asterisk: AsteriskHarness
    consoles: dict[str, Console]
    ports: dict[str, int]  # operator -> the sipp phone's registered SIP port
    workdir: Path
    base_url: str  # the console, served by the engine's own HTTP server
    phones: dict[str, Sipp] = field(default_factory=dict)  # operator -> his phone of this test

    def phone(self, operator: str, name: str) -> Sipp:
        """The operator's registered phone: answers the next call, talks until BYE.  An
        earlier phone still on the port (a failed test's, whose call never got its BYE)
        is put down first: the new one could not bind, and op101 would miss every call."""
        earlier = self.phones.pop(operator, None)
        if earlier is not None:
            earlier.kill()
        self.phones[operator] = Sipp(SIPP_DIR / "operator_answers.xml", service=operator, local_ip=PHONES_IP,
                                     remote="127.0.0.1:5060", port=self.ports[operator],
                                     workdir=self.workdir / name, timeout_s=120).start()
        return self.phones[operator]

    def wait_for(self, what: str, check: Callable[[], bool], timeout: float = 20.0) -> None:
        deadline = time.monotonic() + timeout
        while not check():
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out waiting for {what}")
            time.sleep(0.1)

    def state(self, operator: str) -> str:
        return self.engine.router.operator_status(operator).state


@pytest.fixture(scope="module")
def desk(asterisk: AsteriskHarness, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Desk]:
    tmp = tmp_path_factory.mktemp("transfer")
    config = load_config(REPO_ROOT / "config.yaml")
    digest = generate_password_hash(PASSWORD, method="pbkdf2:sha256:1000")
    config = dataclasses.replace(
        config,
        prompts=dataclasses.replace(config.prompts, sounds_dir=str(asterisk.root / SOUNDS_IN_CHROOT)),
        recordings=dataclasses.replace(
            config.recordings, dir=str(tmp / "recordings"), audit_log=str(tmp / "audit" / "rec.jsonl"),
            deletion_log=str(tmp / "audit" / "deleted.jsonl"),
            spool_dir=str(asterisk.root / "var/spool/asterisk/monitor/ivr"),
            clip_dir=str(asterisk.root / "var/spool/asterisk/ivr")),
        console=dataclasses.replace(config.console, audit_log=str(tmp / "audit" / "console.jsonl")),
        redis=dataclasses.replace(config.redis, embedded_dir=str(tmp / "redis")),
        users={user: UserConfig(role="operator", password_hash=digest, operator=op) for user, op in USERS.items()},
    )
    catalog, problems = load_catalog(config.path(config.prompts.dir))
    assert not problems
    report = build_prompts(catalog, config.prompts.sounds_dir, voices=config.prompts.voices, jobs=2)
    assert report.ok, report.failed
    for spool in ("var/spool/asterisk/ivr", "var/spool/asterisk/monitor/ivr"):
        (asterisk.root / spool).mkdir(parents=True, exist_ok=True)

    # The operators' phones register (the shipped endpoints op101, op102).
    ports = {}
    for operator in ("op101", "op102"):
        register = Sipp(SIPP_DIR / "operator_register.xml", service=operator, local_ip=PHONES_IP,
                        remote="127.0.0.1:5060", workdir=tmp / f"register-{operator}",
                        extra=("-au", operator, "-ap", OPERATOR_PASSWORD), timeout_s=15).start()
        register.wait()
        ports[operator] = register.port
    contacts = asterisk.cli("pjsip show contacts")
    assert all(f"{op}/sip:{op}@{PHONES_IP}:{port}" in contacts for op, port in ports.items()), contacts

    start = time.monotonic()
    redis_server = embedded_redis(str(tmp / "redis.db"))
    engine = build_engine(config, Secrets(secret_key="tier-secret", recording_key=RECORDING_KEY), redis=redis_server,
                          clock=lambda: NOON + (time.monotonic() - start))
    server = fastagi_server(engine, ("127.0.0.1", 0))
    engine_ami = ami_services(engine, host="127.0.0.1", port=5038, username=ENGINE_AMI_USER,
                              secret=ENGINE_AMI_SECRET)
    ami = asterisk.ami()
    app = create_app(engine)
    http_port = free_port()
    with engine_serving(engine, server, ami=ami, engine_ami=engine_ami, redis_server=redis_server,
                        http=("127.0.0.1", http_port)):
        consoles = {op: Console(app, user) for user, op in USERS.items()}
        yield Desk(engine=engine, ami=ami, log=EventLog(ami), asterisk=asterisk, consoles=consoles, ports=ports,
                   workdir=tmp, base_url=f"http://127.0.0.1:{http_port}")


@pytest.fixture(autouse=True)
def fresh_desk(desk: Desk) -> Iterator[None]:
    """Each test starts with every operator not ready and no call up, whatever the last one
    left (a failed test must not make the next one's call go to the wrong operator)."""
    yield
    if desk.asterisk.cli("core show channels count").lstrip().startswith("0 active channels"):
        pass
    else:
        desk.asterisk.cli("channel request hangup all")
        wait_no_channels(desk.asterisk)
    for phone in desk.phones.values():  # hung up above: a phone still running never got its BYE
        phone.kill()
    desk.phones.clear()
    for op in desk.engine.router.operators:
        try:
            desk.engine.router.set_operator_state(op, "offline")
        except RoutingError:  # still reserved or on a call that is ending: routing settles it
            pass


def to_general(desk: Desk) -> Citizen:
    """A citizen walks the menu into the general queue, consenting to the recording."""
    call = Citizen(desk.ami, desk.log).dial()
    call.on(r"STREAM FILE ivr/ru/welcome ", "1")
    call.on(r"^RECORD FILE ", "#")
    call.on(r"STREAM FILE ivr/ru/identity\.enter_number ", INN + "#")
    call.on(r'^STREAM FILE ivr/ru/number\.\d "12"', "1")  # the readback: "1 — верно"
    call.on(r"STREAM FILE ivr/ru/menu\.main ", "0")  # an operator: general
    call.on(r"STREAM FILE ivr/ru/consent\.ask_keys ", "1")  # record
    call.hear(r"^EXEC StartMusicOnHold")
    return call


def answered_by(desk: Desk, call: Citizen, operator: str, *, after: int) -> dict[str, str]:
    """The DialEnd ANSWER of the caller's Dial to ``operator``'s phone."""
    return desk.log.wait(lambda e: e.get("Event") == "DialEnd" and e.get("Uniqueid") == call.uniqueid
                         and e.get("DestChannel", "").startswith(f"PJSIP/{operator}-")
                         and e.get("DialStatus") == "ANSWER", after=after, timeout=30,
                         what=f"{operator}'s phone to answer the call")[1]


def talking_to_op101(desk: Desk) -> tuple[Citizen, Sipp]:
    first = desk.phone("op101", f"op101-{time.monotonic_ns()}")
    call = to_general(desk)
    assert desk.consoles["op101"].post("/operator/api/state", {"state": "ready"}).status_code == 200
    answered_by(desk, call, "op101", after=call.start)
    desk.wait_for("routing to hear op101 answered", lambda: desk.state("op101") == "on_call")
    legs = desk.engine.call_life.legs.get(call.uniqueid)
    assert legs is not None and legs.operator.startswith("PJSIP/op101-")
    return call, first


def hang_up_and_settle(desk: Desk, call: Citizen, *phones: Sipp) -> None:
    call.hang_up()
    call.wait_gone()
    for phone in phones:
        phone.wait(30)
    desk.wait_for("routing to hear the call ended", lambda: desk.engine.router.status(call.uniqueid).state == "gone")
    wait_no_channels(desk.asterisk)


def nothing_reserved(desk: Desk) -> None:
    for op in desk.engine.router.operators:
        assert desk.state(op) != "reserved", op


def ready_for_next(desk: Desk, *operators: str) -> None:
    """Between tests: the operators end their after-call work (not ready, as they began)."""
    for op in operators:
        desk.engine.router.set_operator_state(op, "offline")


def test_blind_to_the_second_line_reaches_op102_with_the_context_and_the_transfer(desk: Desk) -> None:
    call, first = talking_to_op101(desk)
    appeal = desk.engine.router.context(call.uniqueid)["appeal"]  # type: ignore[index]
    assert desk.consoles["op102"].post("/operator/api/state", {"state": "ready"}).status_code == 200
    second = desk.phone("op102", "blind-op102")
    try:
        mark = desk.log.mark()
        reply = desk.consoles["op101"].post(f"/operator/api/calls/{call.uniqueid}/transfer",
                                            {"mode": "blind", "queue": "second_line", "note": "нужен специалист"})
        assert reply.status_code == 200, reply.get_json()
        assert reply.get_json()["state"] == "wrap_up"
        # Asterisk: the caller left op101 (his phone got BYE) and went back to the engine ...
        first.wait(30)
        # (told they are first in line: one Playback; op102 already reserved, no music)
        call.hear(r'^EXEC StartMusicOnHold|^EXEC Playback "ivr/ru/queue\.position&', timeout=20)
        # ... which handed them to op102's phone, on the same channel: the same call.
        end = answered_by(desk, call, "op102", after=mark)
        assert end["Channel"] == call.channel
        desk.wait_for("op102 on the call", lambda: desk.state("op102") == "on_call")
        st = desk.engine.router.status(call.uniqueid)
        assert (st.state, st.assignment.operator_id, st.assignment.queue) == (  # type: ignore[union-attr]
            "connected", "op102", "second_line")
        assert desk.state("op101") == "wrap_up"
        # op102's screen-pop: what the menu collected, and the transfer.
        pop = desk.consoles["op102"].get(f"/operator/api/calls/{call.uniqueid}").get_json()
        assert pop["appeal"] == appeal and pop["inn"] and pop["inn"] != INN and pop["topic"] is not None
        (record,) = pop["transfers"]
        assert (record["by"], record["by_name"], record["mode"], record["from_queue"], record["to_queue"],
                record["note"]) == ("op101", "Оператор 101", "blind", "general", "second_line", "нужен специалист")
        # op101 wraps up his own leg though the call is op102's now.
        wrap = desk.consoles["op101"].post(f"/operator/api/calls/{call.uniqueid}/wrap-up",
                                           {"result": "escalated", "status": "in_progress",
                                            "note": "передан на вторую линию"})
        assert wrap.status_code == 200, wrap.get_json()
        assert desk.engine.router.status(call.uniqueid).state == "connected"  # op102's conversation goes on
        hang_up_and_settle(desk, call, second)
    finally:
        first.kill()
        second.kill()
    assert desk.state("op102") == "wrap_up"
    nothing_reserved(desk)
    # The citizen's channel ran [operator-handover] twice: one MixMonitor, not two.
    monitors = [e for e in desk.log.select(lambda e: e.get("Event") == "Newexten" and e.get("Uniqueid") ==
                                           call.uniqueid and e.get("Application") == "MixMonitor", after=call.start)]
    assert len(monitors) == 1, monitors
    ready_for_next(desk, "op101", "op102")


def test_warm_transfer_to_op102_completed(desk: Desk) -> None:
    call, first = talking_to_op101(desk)
    assert desk.consoles["op102"].post("/operator/api/state", {"state": "ready"}).status_code == 200
    second = desk.phone("op102", "warm-op102")
    try:
        mark = desk.log.mark()
        reply = desk.consoles["op101"].post(f"/operator/api/calls/{call.uniqueid}/transfer",
                                            {"mode": "warm", "operator": "op102", "note": "обсудили"})
        assert reply.status_code == 200, reply.get_json()
        assert (reply.get_json()["consulting"], reply.get_json()["next"]) == (True, "op102")
        # The consultation: op102's phone answers a Local channel of [operator-consult].
        desk.log.wait(lambda e: e.get("Event") == "DialEnd" and e.get("Channel", "").startswith(
            "Local/1@operator-consult-") and e.get("DestChannel", "").startswith("PJSIP/op102-")
            and e.get("DialStatus") == "ANSWER", after=mark, timeout=30, what="op102 to answer the consultation")
        st = desk.engine.router.status(call.uniqueid)
        assert (st.state, st.assignment.operator_id) == ("connected", "op101")  # type: ignore[union-attr]
        assert desk.state("op102") == "reserved"
        # op102 sees the screen-pop of the call he is consulted on.
        pop = desk.consoles["op102"].get(f"/operator/api/calls/{call.uniqueid}")
        assert pop.status_code == 200 and pop.get_json()["appeal"]
        time.sleep(1)  # they talk

        done = desk.consoles["op101"].post(f"/operator/api/calls/{call.uniqueid}/transfer/complete", {})
        assert done.status_code == 200, done.get_json()
        first.wait(30)  # op101's leg hung up
        desk.log.wait(lambda e: e.get("Event") == "AttendedTransfer" and e.get("Result") == "Success",
                      after=mark, timeout=15, what="Asterisk to complete the attended transfer")
        st = desk.engine.router.status(call.uniqueid)
        assert (st.state, st.assignment.operator_id) == ("connected", "op102")  # type: ignore[union-attr]
        assert (desk.state("op101"), desk.state("op102")) == ("wrap_up", "on_call")
        # The caller is bridged to op102's phone now.
        desk.wait_for("the caller bridged to op102", lambda: desk.ami.action(
            "Getvar", Channel=call.channel, Variable="BRIDGEPEER").get("Value", "").startswith(
            ("PJSIP/op102-", "Local/1@operator-consult-")), timeout=10)
        pop = desk.consoles["op102"].get(f"/operator/api/calls/{call.uniqueid}").get_json()
        assert [(r["by"], r["mode"], r["next"], r["note"]) for r in pop["transfers"]] == [
            ("op101", "warm", "op102", "обсудили")]
        # The conversation's end is op102's.
        hang_up_and_settle(desk, call, second)
    finally:
        first.kill()
        second.kill()
    assert desk.state("op102") == "wrap_up"
    nothing_reserved(desk)
    ready_for_next(desk, "op101", "op102")


def test_warm_transfer_cancelled_gives_the_caller_back_to_op101(desk: Desk) -> None:
    call, first = talking_to_op101(desk)
    assert desk.consoles["op102"].post("/operator/api/state", {"state": "ready"}).status_code == 200
    second = desk.phone("op102", "cancel-op102")
    try:
        mark = desk.log.mark()
        reply = desk.consoles["op101"].post(f"/operator/api/calls/{call.uniqueid}/transfer",
                                            {"mode": "warm", "queue": "second_line"})
        assert reply.status_code == 200, reply.get_json()
        assert reply.get_json()["next"] == "op102"  # the second line's one ready operator
        desk.log.wait(lambda e: e.get("Event") == "DialEnd" and e.get("DestChannel", "").startswith("PJSIP/op102-")
                      and e.get("DialStatus") == "ANSWER", after=mark, timeout=30, what="op102 to answer")
        cancelled = desk.consoles["op101"].post(f"/operator/api/calls/{call.uniqueid}/transfer/cancel", {})
        assert cancelled.status_code == 200, cancelled.get_json()
        assert cancelled.get_json()["telephony_problem"] is False
        second.wait(30)  # op102's consultation leg ended
        assert desk.state("op102") == "available"  # released, ready for the next call
        st = desk.engine.router.status(call.uniqueid)
        assert (st.state, st.assignment.operator_id) == ("connected", "op101")  # type: ignore[union-attr]
        desk.wait_for("the caller back with op101", lambda: desk.ami.action(
            "Getvar", Channel=call.channel, Variable="BRIDGEPEER").get("Value", "").startswith("PJSIP/op101-"),
            timeout=10)
        hang_up_and_settle(desk, call, first)
    finally:
        first.kill()
        second.kill()
    assert desk.state("op101") == "wrap_up"
    assert desk.engine.router.transfers(call.uniqueid) == []
    nothing_reserved(desk)
    ready_for_next(desk, "op101", "op102")


def test_warm_transfer_to_an_operator_whose_phone_is_not_registered_ends_by_itself(desk: Desk) -> None:
    """op103 is ready in the console but no phone is registered for him: the consultation's
    Dial answers CHANUNAVAIL; routing releases him without anyone clicking."""
    call, first = talking_to_op101(desk)
    assert desk.consoles["op103"].post("/operator/api/state", {"state": "ready"}).status_code == 200
    try:
        reply = desk.consoles["op101"].post(f"/operator/api/calls/{call.uniqueid}/transfer",
                                            {"mode": "warm", "operator": "op103"})
        if reply.status_code == 200:  # the consultation began, then its Dial failed
            desk.wait_for("op103 released", lambda: desk.state("op103") == "available")
        else:  # it failed before it began: the console says so
            assert reply.status_code == 502 and reply.get_json()["error"] == "telephony_failed", reply.get_json()
        assert desk.state("op103") == "available"
        st = desk.engine.router.status(call.uniqueid)
        assert (st.state, st.assignment.operator_id) == ("connected", "op101")  # type: ignore[union-attr]
        # The caller is op101's again: the next try is refused for nobody being free, not stuck.
        again = desk.consoles["op101"].post(f"/operator/api/calls/{call.uniqueid}/transfer",
                                            {"mode": "warm", "operator": "op104"})
        assert (again.status_code, again.get_json()["error"]) == (409, "operator_not_ready")
        hang_up_and_settle(desk, call, first)
    finally:
        first.kill()
    nothing_reserved(desk)
    ready_for_next(desk, "op101", "op103")


def test_a_transfer_clicked_as_the_caller_hangs_up_is_refused_and_nothing_stays_reserved(desk: Desk) -> None:
    """The click races the hang-up.  Asterisk either refuses the Redirect (the channel is
    gone: 410, the call ends), or routing heard the hang-up first (409/410), or - the click
    was a moment earlier - the Redirect was taken and the caller is gone from the hold
    (the call is abandoned).  Whichever: nobody stays reserved, op101 wraps up."""
    call, first = talking_to_op101(desk)
    assert desk.consoles["op102"].post("/operator/api/state", {"state": "ready"}).status_code == 200
    try:
        call.hang_up()  # no waiting
        reply = desk.consoles["op101"].post(f"/operator/api/calls/{call.uniqueid}/transfer",
                                            {"mode": "blind", "queue": "second_line"})
        call.wait_gone()
        first.wait(30)
        if reply.status_code != 200:
            assert reply.status_code in (409, 410), reply.get_json()
            assert reply.get_json()["error"] in ("call_over", "not_connected", "call_not_live"), reply.get_json()
        desk.wait_for("routing to end the call",
                      lambda: desk.engine.router.status(call.uniqueid).state in ("gone", "abandoned"))
        desk.wait_for("op102 free again", lambda: desk.state("op102") == "available")
    finally:
        first.kill()
    assert desk.state("op101") == "wrap_up"
    assert desk.state("op102") == "available"  # never left reserved for a caller who is gone
    nothing_reserved(desk)
    wait_no_channels(desk.asterisk)
    ready_for_next(desk, "op101", "op102")


@pytest.mark.browser
def test_the_transfer_buttons_in_chromium_warm_to_op102_then_complete(desk: Desk) -> None:
    """The operators click: op101 chooses op102, "with a consultation", writes a note, clicks
    "Перевести"; op102's page says who consults him; op101 clicks "Завершить перевод"; op102's
    screen-pop lists the transfer with the note."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select, WebDriverWait

    def until(driver: object, check: Callable[[object], object], timeout: float = 20.0) -> object:
        return WebDriverWait(driver, timeout, poll_frequency=0.05).until(check)

    def shown(element_id: str) -> Callable[[object], bool]:
        return lambda d: d.find_element(By.ID, element_id).is_displayed()  # type: ignore[attr-defined, no-any-return]

    first = desk.phone("op101", "chromium-op101")
    second = desk.phone("op102", "chromium-op102")
    with headless_chromium() as anna, headless_chromium() as boris:
        try:
            for driver, user in ((anna, "anna"), (boris, "boris")):
                log_in(driver, desk.base_url, user, PASSWORD)
                until(driver, lambda d: d.find_element(By.ID, "connection").text == "на связи")
            call = to_general(desk)
            anna.find_element(By.ID, "go-ready").click()
            until(anna, shown("pop"))
            answered_by(desk, call, "op101", after=call.start)
            until(anna, lambda d: d.find_element(By.ID, "pop-call-state").get_attribute("data-call-state") == "connected")
            boris.find_element(By.ID, "go-ready").click()
            until(boris, lambda d: d.find_element(By.ID, "state").get_attribute("data-state") == "available")
            until(anna, lambda d: len(d.find_elements(By.CSS_SELECTOR, "#transfer-operators option")) >= 3)
            # A colleague who is not ready: said on the page, nothing changes.
            Select(anna.find_element(By.ID, "transfer-target")).select_by_value("operator:op104")
            anna.find_element(By.ID, "transfer-go").click()
            until(anna, shown("transfer-error"))
            assert anna.find_element(By.ID, "transfer-error").get_attribute("data-error") == "operator_not_ready"
            assert anna.find_element(By.ID, "transfer-error").text == "Этот оператор сейчас не готов принять вызов"
            assert desk.engine.router.status(call.uniqueid).assignment.operator_id == "op101"  # type: ignore[union-attr]
            anna.find_element(By.ID, "transfer-mode-warm").click()
            Select(anna.find_element(By.ID, "transfer-target")).select_by_value("operator:op102")
            anna.find_element(By.ID, "transfer-note").send_keys("паспорт проверен")
            mark = desk.log.mark()
            anna.find_element(By.ID, "transfer-go").click()
            anna.find_element(By.ID, "transfer-go").click()  # a double click: one consultation
            until(anna, shown("transfer-consult"))
            assert "Оператор 102" in anna.find_element(By.ID, "transfer-consult-text").text
            until(boris, shown("pop-consult"))
            assert "Оператор 101" in boris.find_element(By.ID, "pop-consult").text or "op101" in boris.find_element(
                By.ID, "pop-consult").text
            desk.log.wait(lambda e: e.get("Event") == "DialEnd" and e.get("DestChannel", "").startswith("PJSIP/op102-")
                          and e.get("DialStatus") == "ANSWER", after=mark, timeout=30, what="op102 to answer")
            assert desk.engine.router.operator_status("op102").state == "reserved"

            anna.find_element(By.ID, "transfer-complete").click()
            until(anna, lambda d: d.find_element(By.ID, "transfer-message").get_attribute("data-kind") == "op.transfer.done")
            until(anna, lambda d: d.find_element(By.ID, "state").get_attribute("data-state") == "wrap_up")
            assert anna.find_element(By.ID, "pop-call-state").get_attribute("data-call-state") == "transferred"
            until(boris, shown("pop-transfers"))
            row = boris.find_element(By.CSS_SELECTOR, "#pop-transfers-list li")
            assert "паспорт проверен" in row.text and row.get_attribute("data-mode") == "warm"
            assert row.get_attribute("data-by") == "op101"
            assert not boris.find_element(By.ID, "pop-consult").is_displayed()
            until(boris, lambda d: d.find_element(By.ID, "state").get_attribute("data-state") == "on_call")
            st = desk.engine.router.status(call.uniqueid)
            assert (st.state, st.assignment.operator_id) == ("connected", "op102")  # type: ignore[union-attr]
            audit = [line for line in Path(desk.engine.config.path(desk.engine.config.console.audit_log))
                     .read_text().splitlines() if '"transfer_' in line and call.uniqueid[:20] in line]
            assert [json.loads(x)["action"] for x in audit][-2:] == ["transfer_warm", "transfer_complete"]
            hang_up_and_settle(desk, call, first, second)
        finally:
            first.kill()
            second.kill()
    nothing_reserved(desk)
    ready_for_next(desk, "op101", "op102")


def test_asterisk_logged_no_warning_during_the_transfers(desk: Desk) -> None:
    """Runs last: nothing but the two lines of the one dial meant to fail (op103 has no phone)."""
    problems = [line for line in desk.asterisk.boot_log() if " ERROR[" in line or " WARNING[" in line]
    expected = ("Endpoint 'op103': Could not create dialog to invalid URI 'op103'",
                "Failed to create outgoing session to endpoint 'op103'")
    assert [p for p in problems if not any(x in p for x in expected)] == []
    assert len(problems) == 2, problems
