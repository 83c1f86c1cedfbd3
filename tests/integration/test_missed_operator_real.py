"""An operator who does not answer, on the real Asterisk 22 with real SIP phones (sipp).

Two operators of the general queue register their phones (sipp, digest auth, as
pjsip.conf's ``[opNNN]`` endpoints); the engine's config dials them as shipped
(``PJSIP/op101``, ``PJSIP/op102``).  A citizen walks the menu into the general queue and
holds.  op101 is made ready: routing reserves him, the engine ends its FastAGI session
with ``IVR_STATUS=connect``, and the shipped ``[operator-handover]`` Dials his phone, which
rings and is never picked up (or answers ``486 Busy Here``).  op102 is ready meanwhile.

What must happen (issue 18, section 1): Dial gives up (``DIALSTATUS`` NOANSWER / BUSY),
the engine hears it over AMI (``DialEnd``) and routing puts the call back at the head of
its line and offers it to op102 at once; the dialplan hands the channel back to the engine
(``AGI(${IVR_AGI},resume,${DIALSTATUS})``), which tells the caller they are first in line,
holds them in **our** routing (never the dialplan's fallback ``Queue()``) and hands them to
op102, whose phone answers: the call is bridged.  Routing shows op101 not ready, why
"missed", the call connected to op102, and the call's context (appeal number, topic,
ИНН) is the one the menu collected.  Without the resume path the channel would fall to
``Queue(hotline-general)`` and op102's phone would never ring: the test fails.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Self

import pytest
from asterisk_harness import REPO_ROOT, AsteriskHarness
from hotline_calls import EventLog, engine_serving
from hotline_conf import ENGINE_AMI_SECRET, ENGINE_AMI_USER
from sipp_runner import SIPP_DIR, Sipp, scenario_with
from test_hotline_real import INN, NOON, RECORDING_KEY, Hotline, hotline_config, walk_identity

from ivr.asterisk.wiring import ami_services, fastagi_server
from ivr.config import Secrets
from ivr.config.load import load_config
from ivr.console.dashboard import Dashboard
from ivr.engine import build_engine
from ivr.prompts.build import build_prompts
from ivr.prompts.catalog import load_catalog
from tests.embedded import embedded_redis

pytestmark = pytest.mark.asterisk

FIRST, SECOND = "op101", "op102"  # both in the general queue's skill
PASSWORD = "CHANGE-ME"  # the shipped pjsip.conf's sample password (the tier's Asterisk, loopback only)
PHONES = "127.0.0.1:5060"  # the tier's SIP transport (hotline_conf.compose_pjsip)
# The phones' own address: not 127.0.0.1, which the tier's trunk identifies as the carrier
# (every request from there would be the trunk's, and a REGISTER finds no AOR).
PHONE_IP = "127.0.0.3"
DIAL_SECONDS = 15  # Dial(${IVR_OPERATOR_ENDPOINT},15,tT) in [operator-handover]


@pytest.fixture(scope="module")
def line(asterisk: AsteriskHarness, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Hotline]:
    """The engine as ``ivr serve`` runs it, with AMI, behind the tier's Asterisk; op101 and
    op102 are dialled on their shipped PJSIP endpoints (the other operators never ready)."""
    tmp = tmp_path_factory.mktemp("missed")
    config = hotline_config(asterisk.root, tmp)
    shipped = load_config(REPO_ROOT / "config.yaml")
    operators = dict(config.operators)
    for op_id in (FIRST, SECOND):
        operators[op_id] = dataclasses.replace(operators[op_id], endpoint=shipped.operators[op_id].endpoint)
    config = dataclasses.replace(config, operators=operators)
    assert config.operators[FIRST].endpoint == f"PJSIP/{FIRST}"
    catalog, problems = load_catalog(config.path(config.prompts.dir))
    assert not problems
    report = build_prompts(catalog, config.prompts.sounds_dir, voices=config.prompts.voices, jobs=2)
    assert report.ok, report.failed
    asterisk.cli("agi set debug on")

    start = time.monotonic()
    redis_server = embedded_redis(str(tmp / "redis.db"))
    engine = build_engine(config, Secrets(recording_key=RECORDING_KEY), redis=redis_server,
                          clock=lambda: NOON + (time.monotonic() - start))
    server = fastagi_server(engine, ("127.0.0.1", 0))
    engine_ami = ami_services(engine, host="127.0.0.1", port=5038, username=ENGINE_AMI_USER,
                              secret=ENGINE_AMI_SECRET)
    ami = asterisk.ami()
    world = Hotline(engine=engine, server=server, dialer=engine_ami.dialer, ami=ami, asterisk=asterisk,
                    log=EventLog(ami), name_alaw=b"")
    engine.call_observers.append(world.record_call)
    server.on_call_end = world.record_session
    with engine_serving(engine, server, ami=ami, engine_ami=engine_ami, redis_server=redis_server):
        yield world


class OperatorPhone:
    """A real SIP phone of an operator: registers (digest), then plays one scenario on the
    same address and port; unregisters (Expires: 0) at the end."""

    def __init__(self, operator: str, workdir: Path) -> None:
        self.operator, self.workdir = operator, workdir / operator
        self.port = 0
        self.call: Sipp | None = None

    def _register(self, expires: int) -> None:
        template = (SIPP_DIR / "operator_register.xml").read_text().replace("Expires: 600", f"Expires: {expires}")
        scenario = self.workdir / f"register-{expires}.xml"
        self.workdir.mkdir(parents=True, exist_ok=True)
        scenario.write_text(template)
        sipp = Sipp(scenario, service=self.operator, local_ip=PHONE_IP, remote=PHONES, port=self.port,
                    workdir=self.workdir / f"register-{expires}", extra=("-au", self.operator, "-ap", PASSWORD),
                    timeout_s=15).start()
        sipp.wait()
        self.port = sipp.port

    def __enter__(self) -> Self:
        self._register(600)
        return self

    def plays(self, scenario: str, **marks: object) -> Sipp:
        path = SIPP_DIR / scenario
        if marks:
            path = scenario_with(path, self.workdir / scenario, **marks)
        self.call = Sipp(path, service=self.operator, local_ip=PHONE_IP, remote=PHONES, port=self.port,
                         workdir=self.workdir / "call", timeout_s=120).start()
        return self.call

    def __exit__(self, *exc: object) -> None:
        if self.call is not None:
            self.call.kill()
        self._register(0)  # the next test's Asterisk finds no stale contact for this operator


def operator_row(line: Hotline, operator: str) -> dict[str, object]:
    """The operator as the supervisors' dashboard shows him."""
    rows = Dashboard(router=line.engine.router, clock=line.engine.clock).operators()
    return next(r for r in rows if r["id"] == operator)


@pytest.mark.parametrize(("scenario", "dial_status"), [
    ("operator_rings_unanswered.xml", "NOANSWER"),
    ("operator_busy.xml", "BUSY"),
])
def test_the_caller_an_operator_missed_goes_back_to_the_head_of_our_line_and_to_the_next_operator(
    line: Hotline, asterisk: AsteriskHarness, tmp_path: Path, scenario: str, dial_status: str
) -> None:
    router, log = line.engine.router, line.log
    with OperatorPhone(FIRST, tmp_path) as first, OperatorPhone(SECOND, tmp_path) as second:
        contacts = asterisk.cli("pjsip show contacts")
        assert f"{FIRST}/sip:{FIRST}@{PHONE_IP}:{first.port}" in contacts
        assert f"{SECOND}/sip:{SECOND}@{PHONE_IP}:{second.port}" in contacts
        unanswered = first.plays(scenario)
        answers = second.plays("operator_answers.xml")

        call = line.call()
        walk_identity(call)  # welcome, the name skipped, the ИНН read back and confirmed
        call.on(r"STREAM FILE ivr/ru/menu\.main ", "0")  # an operator: the general queue
        call.on(r"STREAM FILE ivr/ru/consent\.ask_keys ", "2")  # not recorded
        call.hear(r"^EXEC StartMusicOnHold")
        uid = call.uniqueid
        assert router.status(uid).state == "waiting"
        collected = router.context(uid)
        assert collected is not None and collected["appeal"] and collected["inn"] == INN
        assert (collected["topic"], collected["queue"]) == ("operator", "general")

        router.set_operator_state(FIRST, "available")  # reserved for the call at once
        _, dialled = log.wait(lambda e: e.get("Event") == "DialBegin" and e.get("Uniqueid") == uid,
                              after=call.start, what=f"{FIRST}'s phone to be dialled")
        assert dialled["DestChannel"].startswith(f"PJSIP/{FIRST}-")
        router.set_operator_state(SECOND, "available")  # ready too, while the first one's phone rings
        rang = time.monotonic()
        first_end, missed = log.wait(lambda e: e.get("Event") == "DialEnd" and e.get("Uniqueid") == uid,
                                     after=call.start, timeout=DIAL_SECONDS + 20, what=f"{FIRST}'s Dial to end")
        assert missed["DestChannel"].startswith(f"PJSIP/{FIRST}-")
        assert missed["DialStatus"] == dial_status
        if dial_status == "NOANSWER":
            assert time.monotonic() - rang >= DIAL_SECONDS - 2  # it rang its time, unanswered
        unanswered.wait(30)  # the phone saw the CANCEL (or its 486 acknowledged)

        # Back to the engine, not to the dialplan's Queue(): the caller hears they are
        # first in line, in the same call, the resumed FastAGI session.
        call.pos = first_end
        # No callback offered, so no key cuts it short: one Playback before the music.
        # (and their appeal number: put through at once, they had not heard it yet)
        call.hear(r'^EXEC Playback "ivr/ru/queue\.position&ivr/ru/number\.1&ivr/ru/common\.your_appeal&(ivr/ru/number\.\d&?){10}"')
        _, bridged = log.wait(lambda e: e.get("Event") == "DialEnd" and e.get("Uniqueid") == uid,
                              after=first_end + 1, timeout=40, what=f"{SECOND}'s phone to be dialled")
        assert bridged["DestChannel"].startswith(f"PJSIP/{SECOND}-")
        assert bridged["DialStatus"] == "ANSWER"
        line.wait_for("routing to hear the answer", lambda: router.status(uid).state == "connected")
        status = router.status(uid)
        assert status.assignment is not None and status.assignment.operator_id == SECOND
        assert router.operator_status(SECOND).state == "on_call"
        assert call.variables()["IVR_OPERATOR"] == SECOND
        assert log.select(lambda e: e.get("Event") == "QueueCallerJoin" and e.get("Uniqueid") == uid,
                          after=call.start) == []  # never the dialplan's fallback queue
        # The first operator: not ready, why "missed"; the supervisors see the miss.
        assert router.operator_status(FIRST).state == "offline"
        row = operator_row(line, FIRST)
        assert (row["state"], row["why"]) == ("offline", "missed")
        assert isinstance(row["missed"], int) and row["missed"] >= 1
        # What the menu collected is the call's still: one appeal, one topic, one ИНН.
        kept = router.context(uid)
        assert kept is not None
        assert {k: kept[k] for k in ("appeal", "topic", "queue", "inn", "caller")} == {
            k: collected[k] for k in ("appeal", "topic", "queue", "inn", "caller")}

        call.hang_up()
        call.wait_gone()
        answers.wait(30)  # op102's phone got the BYE: the conversation was bridged to it
        line.wait_for("routing to hear the call ended", lambda: router.status(uid).state == "gone")
        assert router.operator_status(SECOND).state == "wrap_up"
