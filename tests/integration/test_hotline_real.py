"""Hotline calls through a real Asterisk 22 into the real engine, walking hotline.yaml.

Asterisk boots the shipped dialplans/asterisk/*.conf (see hotline_conf.py); the engine is
the one ``ivr serve`` runs (build_engine, the FastAGI server from ivr.asterisk.wiring, the
serve loop with its once-a-second background work) on loopback, with an embedded Redis
and the callback dialer on AMI.  Prompts are rendered by ``ivr prompts build`` into the
chroot's sounds directory, so every STREAM FILE plays real audio for its real length.
"""

from __future__ import annotations

import audioop
import base64
import calendar
import dataclasses
import io
import re
import tempfile
import threading
import time
import wave
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from agi_calls import wait_no_channels
from ami_client import AmiClient
from asterisk_harness import REPO_ROOT, AsteriskHarness
from hotline_calls import Citizen, EventLog, engine_serving
from hotline_conf import ENGINE_AMI_SECRET, ENGINE_AMI_USER
from sipp_runner import SIPP_DIR, RtpKeys, Sipp, free_udp_port, scenario_with

from ivr.asterisk.dialer import AsteriskCallbackDialer
from ivr.asterisk.server import FastAgiServer
from ivr.asterisk.session import SessionResult
from ivr.asterisk.wiring import ami_services, fastagi_server
from ivr.config import Config, Secrets
from ivr.config.load import load_config
from ivr.engine import Engine, build_engine
from ivr.flow.context import CallContext
from ivr.prompts.build import build_prompts
from ivr.prompts.catalog import load_catalog
from ivr.prompts.render import synthesise, to_telephone
from tests.embedded import embedded_redis

pytestmark = pytest.mark.asterisk

# A Wednesday, 12:00 in Moscow: every topic queue is open.
RECORDING_KEY = "k1:" + base64.b64encode(bytes(range(32))).decode()  # a test key, never a real one
NOON = calendar.timegm((2026, 3, 18, 9, 0, 0))
INN_MISTYPED, INN = "000082246518", "000082246517"  # synthetic (region 00)
SNILS_WRONG, SNILS = "77990809892", "12910747350"  # both valid; the caller corrects the first
CITIZEN = "79990000001"
SOUNDS_IN_CHROOT = "usr/share/asterisk/sounds/ivr"  # Asterisk plays ivr/<lang>/<prompt>
HOTLINE_NUMBER = "88005553535"
# What a caller says at the name prompt: espeak-ng's voice, in the chroot's sounds (a test
# file of its own directory, never a prompt of the product's).
NAME_SAID, NAME_TEXT = "ivr-test/name", "Иван Петрович Сидоров"
BEEP_SECONDS = 0.6  # RECORD FILE's beep (Debian's ru beep.wav: 0.43 s) plays before it records


@dataclass
class Hotline:
    engine: Engine
    server: FastAgiServer
    dialer: AsteriskCallbackDialer
    ami: AmiClient  # the tests' own AMI session (user ivr-test)
    asterisk: AsteriskHarness
    log: EventLog
    name_alaw: bytes  # NAME_SAID as 8 kHz A-law: what a SIP caller sends as RTP
    calls: list[tuple[CallContext, float]] = field(default_factory=list)
    sessions: list[SessionResult] = field(default_factory=list)
    _cond: threading.Condition = field(default_factory=threading.Condition)

    def name_said_ends(self, channel: str) -> list[int]:
        """Where each RECORD FILE of ``channel`` ended, in samples: Asterisk's ``endpos``
        (``AGI Tx >> 200 result=35 (dtmf) endpos=20480``; AGI debug is on in this tier)."""
        rx = re.compile(rf"<{re.escape(channel)}>AGI Tx >> 200 result=-?\d+ \((?:dtmf|timeout)\) endpos=(\d+)")
        return [int(m.group(1)) for line in self.asterisk.boot_log() if (m := rx.search(line))]

    def call(self, number: str = CITIZEN) -> Citizen:
        return Citizen(self.ami, self.log, number=number).dial()

    def record_call(self, ctx: CallContext, at: float) -> None:
        with self._cond:
            self.calls.append((ctx, at))
            self._cond.notify_all()

    def record_session(self, result: SessionResult) -> None:
        with self._cond:
            self.sessions.append(result)
            self._cond.notify_all()

    def ended(self, call_id: str, timeout: float = 20.0) -> tuple[CallContext, SessionResult]:
        """The engine's record of a finished call, and how its FastAGI session ended."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                ctx = next((c for c, _ in self.calls if c.call_id == call_id), None)
                session = next((s for s in self.sessions if s.call_id == call_id), None)
                if ctx is not None and session is not None:
                    return ctx, session
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"call {call_id} not recorded as ended: {ctx}, {session}")
                self._cond.wait(left)

    def wait_for(self, what: str, check: Callable[[], bool], timeout: float = 20.0) -> None:
        deadline = time.monotonic() + timeout
        while not check():
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out waiting for {what}")
            time.sleep(0.1)


def hotline_config(root: Path, tmp: Path) -> Config:
    """The shipped config.yaml; operators' phones are Local channels of the test dialplan."""
    config = load_config(REPO_ROOT / "config.yaml")
    operators = {op_id: dataclasses.replace(op, endpoint=f"Local/{op_id}@test-operator")
                 for op_id, op in config.operators.items()}
    return dataclasses.replace(
        config,
        operators=operators,
        prompts=dataclasses.replace(config.prompts, sounds_dir=str(root / SOUNDS_IN_CHROOT)),
        # The engine sees Asterisk's spool directories through the chroot, as on one host.
        recordings=dataclasses.replace(
            config.recordings, dir=str(tmp / "recordings"),
            spool_dir=str(root / "var/spool/asterisk/monitor/ivr"), clip_dir=str(root / "var/spool/asterisk/ivr"),
        ),
        redis=dataclasses.replace(config.redis, embedded_dir=str(tmp / "redis")),
    )


def render_name(root: Path) -> bytes:
    """NAME_TEXT spoken (espeak-ng) into the chroot's sounds as NAME_SAID.wav, 8 kHz 16-bit
    mono as Asterisk plays it; returns the same audio as A-law."""
    target = root / "usr/share/asterisk/sounds" / f"{NAME_SAID}.wav"
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="ivr-name-") as tmp:
        synthesise(NAME_TEXT, "ru", Path(tmp) / "tts.wav")
        to_telephone(Path(tmp) / "tts.wav", target, Path(tmp) / "name.ulaw")
    with wave.open(str(target)) as audio:
        assert (audio.getframerate(), audio.getsampwidth(), audio.getnchannels()) == (8000, 2, 1)
        return audioop.lin2alaw(audio.readframes(audio.getnframes()), 2)


@pytest.fixture(scope="module")
def hotline(asterisk: AsteriskHarness, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Hotline]:
    tmp = tmp_path_factory.mktemp("hotline")
    config = hotline_config(asterisk.root, tmp)
    t0 = time.monotonic()
    catalog, problems = load_catalog(config.path(config.prompts.dir))
    assert not problems
    report = build_prompts(catalog, config.prompts.sounds_dir, voices=config.prompts.voices, jobs=2)
    assert report.ok, report.failed
    asterisk.timings["prompts"] = time.monotonic() - t0
    (asterisk.root / "var/spool/asterisk/ivr").mkdir(parents=True, exist_ok=True)
    (asterisk.root / "var/spool/asterisk/monitor/ivr").mkdir(parents=True, exist_ok=True)
    name_alaw = render_name(asterisk.root)
    asterisk.cli("agi set debug on")  # every AGI reply in the log: RECORD FILE's endpos

    start = time.monotonic()
    redis_server = embedded_redis(str(tmp / "redis.db"))
    engine = build_engine(config, Secrets(recording_key=RECORDING_KEY), redis=redis_server,
                          clock=lambda: NOON + (time.monotonic() - start))
    server = fastagi_server(engine, ("127.0.0.1", 0))
    engine_ami = ami_services(engine, host="127.0.0.1", port=5038, username=ENGINE_AMI_USER,
                              secret=ENGINE_AMI_SECRET)
    dialer = engine_ami.dialer
    ami = asterisk.ami()
    world = Hotline(engine=engine, server=server, dialer=dialer, ami=ami, asterisk=asterisk, log=EventLog(ami),
                    name_alaw=name_alaw)
    engine.call_observers.append(world.record_call)
    server.on_call_end = world.record_session
    with engine_serving(engine, server, ami=ami, engine_ami=engine_ami, redis_server=redis_server):
        yield world


# The readback's first digit (each digit is a prompt of the product's own, "1"/"2" cut it short).
READBACK = r'^STREAM FILE ivr/ru/number\.\d "12"'


def walk_identity(call: Citizen, number: str = INN) -> None:
    """Welcome (a key picks Russian at once), the name skipped ('#' at once, in the beep:
    nothing is recorded), a number."""
    call.on(r"STREAM FILE ivr/ru/welcome ", "1")
    call.on(r"^RECORD FILE ", "#")
    call.on(r"STREAM FILE ivr/ru/identity\.enter_number ", number + "#")
    call.on(READBACK, "1")  # the readback: "1 — верно"


def say_name(call: Citizen) -> None:
    """At the name prompt the caller waits for the beep, says their name, then presses '#'."""
    call.hear(r"^RECORD FILE ")
    time.sleep(BEEP_SECONDS)
    call.say(NAME_SAID)
    call.press("#")


def assert_spoken_name_stored(hotline: Hotline, uid: str, channel: str, queue: str | None = None) -> None:
    """Asterisk recorded the caller's voice (endpos > 0), and the engine keeps that clip,
    encrypted, as the call's name: a WAV of over a second with speech in it, not a header."""
    (endpos,) = hotline.name_said_ends(channel)
    assert endpos > 8000  # samples: over a second of the name
    engine = hotline.engine
    hotline.wait_for("the name to be stored", lambda: engine.recordings.clips.name_recording(uid) is not None)
    name = engine.recordings.clips.name_recording(uid)
    assert name is not None
    meta = engine.recordings.store.meta(name)
    assert (meta.kind, meta.call_id, meta.queue) == ("name", uid, queue)
    with engine.recordings.store.open_for(name, user="tier-test", role="auditor",
                                          reason="the real tier checks the name has audio") as stream:
        data = stream.read()
    with wave.open(io.BytesIO(data)) as clip:
        frames = clip.readframes(clip.getnframes())
        assert clip.getnframes() / clip.getframerate() > 1.0, clip.getnframes()
        assert audioop.rms(frames, clip.getsampwidth()) > 300  # speech, not silence


def assert_no_plaintext_clip(hotline: Hotline, uid: str, queue: str | None = None) -> None:
    """No clip of the call is left in plaintext; the spoken name, if Asterisk wrote a file
    (a '#' right after the beep may leave none), is encrypted as kind 'name', not destroyed."""
    engine = hotline.engine
    assert not list(Path(engine.config.recordings.clip_dir or "").glob(f"{uid}-*"))
    destroyed = {str(e["recording"]) for e in engine.recordings.purger.deletion_log.entries()}
    assert f"clip:{uid}-ask_name.wav" not in destroyed
    name = engine.recordings.clips.name_recording(uid)
    if name is not None:
        meta = engine.recordings.store.meta(name)
        assert (meta.kind, meta.call_id, meta.queue) == ("name", uid, queue)


# -- the shipped configuration loads -------------------------------------------------------


def test_shipped_config_loads_without_errors(asterisk: AsteriskHarness) -> None:
    hotline_plan = asterisk.cli("dialplan show hotline")
    assert "AGI(${IVR_AGI})" in hotline_plan and "'88005553535'" in hotline_plan
    for context in ("operator-handover", "operator", "transfer", "hotline-outbound",
                    "hotline-callback", "hotline-callback-operator", "operators"):
        assert f"[ Context '{context}' created by 'pbx_config' ]" in asterisk.cli(
            f"dialplan show {context}")
    endpoints = asterisk.cli("pjsip show endpoints")
    for endpoint in ("trunk", "op101", "op102", "op103", "op104"):
        assert f"Endpoint:  {endpoint} " in endpoints
    assert "trunk/trunk" in asterisk.cli("pjsip show identifies")
    users = asterisk.cli("manager show users")
    assert "ivr-engine" in users
    assert "hotline-general has 0 calls" in asterisk.cli("queue show hotline-general")
    problems = [line for line in asterisk.boot_log() if " ERROR[" in line or " WARNING[" in line]
    assert problems == []


# -- calls -----------------------------------------------------------------------------------


def test_inn_corrected_topic_consent_queued_then_connected_to_the_operator(hotline: Hotline) -> None:
    router = hotline.engine.router
    call = hotline.call()
    call.on(r"STREAM FILE ivr/ru/welcome ", "1")
    say_name(call)  # speech off: the name is recorded for the operator
    call.on(r"STREAM FILE ivr/ru/identity\.enter_number ", INN_MISTYPED + "#")
    call.on(r"STREAM FILE ivr/ru/invalid\.checksum ", INN + "#")  # corrects at once
    call.on(READBACK, "1")  # the readback: "1 — верно"
    call.on(r"STREAM FILE ivr/ru/menu\.main ", "4")  # payments
    call.on(r"STREAM FILE ivr/ru/consent\.ask_keys ", "1")  # consent to recording, by key
    call.hear(r"^EXEC StartMusicOnHold")
    status = router.status(call.uniqueid)
    assert (status.state, status.position) == ("waiting", 1)

    router.set_operator_state("op102", "available")  # payments: op102
    call.hear(r"STREAM FILE ivr/ru/queue\.connecting ")
    # The hold (until the announcement, 45 s) was cut short by AMI: PlayDTMF "D", received.
    assert any(f"<{call.channel}>AGI Tx >> 200 result=68" in line for line in hotline.asterisk.boot_log())
    _, dial_end = hotline.log.wait(
        lambda e: e.get("Event") == "DialEnd" and e.get("Uniqueid") == call.uniqueid,
        after=call.start, what="the operator to be dialled")
    assert dial_end["DestChannel"].startswith("Local/op102@test-operator-")
    assert dial_end["DialStatus"] == "ANSWER"
    hotline.log.wait(lambda e: e.get("Event") == "UserEvent" and e.get("UserEvent") == "TestOperatorAnswered"
                     and e.get("Operator") == "op102", after=call.start, what="op102's phone to answer")

    variables = call.variables()
    assert variables["IVR_STATUS"] == "connect"
    assert variables["IVR_OPERATOR"] == "op102"
    assert variables["IVR_OPERATOR_ENDPOINT"] == "Local/op102@test-operator"
    assert variables["IVR_RECORD"] == "1"

    ctx, session = hotline.ended(call.uniqueid)
    assert session.ended_by == "connect"
    assert ctx.inn == INN and ctx.identity_confirmed and ctx.caller == CITIZEN
    assert ctx.topic == "payments" and ctx.queue == "payments"
    assert ctx.consent is not None and ctx.consent.granted and ctx.consent.method == "key"
    assert ctx.outcome == "connected"
    number_step = next(s for s in ctx.path if s.node == "ask_number")
    assert number_step.failures == ("checksum",)
    assert ctx.name is not None and ctx.name.clip  # speech off: the spoken name is recorded
    assert next(s for s in ctx.path if s.node == "ask_name").detail == "recorded"
    call.wait_gone()
    # The h extension of [operator-handover] said so too (what tells routing without AMI):
    # a second session of the call, on its dead channel, that the engine sends nothing.
    hotline.wait_for("the h extension's AGI(...,hungup)", lambda: [
        s.ended_by for s in hotline.sessions if s.call_id == call.uniqueid] == ["connect", "engine"])
    hotline.wait_for("the FastAGI socket to close", lambda: hotline.server.active_calls == 0)
    # AMI told routing: answered (DialEnd ANSWER), then over (Hangup): no ghost left in line.
    hotline.wait_for("routing to hear the call ended", lambda: router.status(call.uniqueid).state == "gone")
    assert router.operator_status("op102").state == "wrap_up"
    # The consented conversation was recorded by MixMonitor and encrypted into the store.
    store = hotline.engine.recordings.store
    hotline.wait_for("the recording to be ingested", lambda: any(
        m.call_id == call.uniqueid and m.kind == "operator" for m in store.list()))
    # The index entry lands before the plaintext is overwritten and unlinked (store first,
    # then delete: a crash in between loses nothing), so the spool empties a moment later.
    spool = Path(hotline.engine.config.recordings.spool_dir or "")
    hotline.wait_for("the plaintext and its marker to leave the spool",
                     lambda: not list(spool.glob(f"{call.uniqueid}.wav*")))
    assert_no_plaintext_clip(hotline, call.uniqueid, queue="payments")
    assert_spoken_name_stored(hotline, call.uniqueid, call.channel, queue="payments")


def test_a_caller_who_presses_hash_at_the_name_prompt_has_no_name_stored(hotline: Hotline) -> None:
    """Issue 17 defect 17 on the real Asterisk: '#' after the beep, nothing said.  Asterisk
    has opened the file (a header, endpos=0); the engine stores no name and destroys it."""
    call = hotline.call()
    call.on(r"STREAM FILE ivr/ru/welcome ", "1")
    call.hear(r"^RECORD FILE ")
    time.sleep(BEEP_SECONDS + 0.4)  # past the beep: the file is open, the caller says nothing
    call.press("#")
    call.on(r"STREAM FILE ivr/ru/identity\.enter_number ", INN + "#")
    call.on(READBACK, "1")
    call.hear(r"STREAM FILE ivr/ru/menu\.main ")
    call.hang_up()
    call.wait_gone()

    uid = call.uniqueid
    ctx, session = hotline.ended(uid)
    assert session.ended_by == "caller_hangup"
    assert hotline.name_said_ends(call.channel) == [0]  # Asterisk: '#', nothing recorded
    assert [(s.node, s.exit, s.detail) for s in ctx.path if s.node == "ask_name"] == [
        ("ask_name", "key", "skipped")]
    assert ctx.name is None
    engine = hotline.engine

    def destroyed() -> set[str]:
        return {str(e["recording"]) for e in engine.recordings.purger.deletion_log.entries()}

    hotline.wait_for("the header-only clip to be destroyed", lambda: f"clip:{uid}-ask_name.wav" in destroyed())
    assert not list(Path(engine.config.recordings.clip_dir or "").glob(f"{uid}-*"))
    assert engine.recordings.clips.name_recording(uid) is None
    assert [m for m in engine.recordings.store.list() if m.call_id == uid] == []
    hotline.wait_for("the FastAGI socket to close", lambda: hotline.server.active_calls == 0)


def test_snils_corrected_at_the_readback_signin_topic_consent_declined(hotline: Hotline) -> None:
    router = hotline.engine.router
    call = hotline.call()
    call.on(r"STREAM FILE ivr/ru/welcome ", "1")
    call.on(r"^RECORD FILE ", "#")
    call.on(r"STREAM FILE ivr/ru/identity\.enter_number ", SNILS_WRONG + "#")
    call.on(READBACK, "2")  # "2 — ввести заново"
    call.on(r"STREAM FILE ivr/ru/common\.enter_again ", SNILS + "#")
    call.on(READBACK, "1")
    call.on(r"STREAM FILE ivr/ru/menu\.main ", "1")  # registration and sign-in
    call.on(r"STREAM FILE ivr/ru/menu\.signin ", "2")  # access recovery
    call.on(r"STREAM FILE ivr/ru/consent\.ask_keys ", "2")  # no recording
    call.hear(r"^EXEC StartMusicOnHold")
    assert router.status(call.uniqueid).state == "waiting"

    router.set_operator_state("op101", "available")  # signin: op101 (4) before op104 (3)
    _, dial_end = hotline.log.wait(
        lambda e: e.get("Event") == "DialEnd" and e.get("Uniqueid") == call.uniqueid,
        after=call.start, what="the operator to be dialled")
    assert dial_end["DestChannel"].startswith("Local/op101@test-operator-")
    assert dial_end["DialStatus"] == "ANSWER"
    variables = call.variables()
    assert (variables["IVR_STATUS"], variables["IVR_OPERATOR"], variables["IVR_RECORD"]) == (
        "connect", "op101", "0")
    assert variables["IVR_QUEUE"] == "signin"

    ctx, session = hotline.ended(call.uniqueid)
    assert session.ended_by == "connect"
    assert ctx.snils == "129-107-473 50" and ctx.inn is None and ctx.identity_confirmed
    assert (ctx.topic, ctx.queue) == ("signin.recovery", "signin")
    assert ctx.consent is not None and not ctx.consent.granted
    number_step = next(s for s in ctx.path if s.node == "ask_number")
    assert (number_step.failures, number_step.exit) == (("corrected",), "confirmed")
    call.wait_gone()
    hotline.wait_for("the FastAGI socket to close", lambda: hotline.server.active_calls == 0)
    hotline.wait_for("routing to hear the call ended", lambda: router.status(call.uniqueid).state == "gone")
    assert router.operator_status("op101").state == "wrap_up"


def test_hang_up_in_the_middle_of_the_main_menu(hotline: Hotline, asterisk: AsteriskHarness) -> None:
    call = hotline.call()
    walk_identity(call)
    call.hear(r"STREAM FILE ivr/ru/menu\.main ")
    time.sleep(1.0)  # 1 s into a 20 s prompt
    call.hang_up()
    call.wait_gone()

    ctx, session = hotline.ended(call.uniqueid)
    assert session.ended_by == "caller_hangup"
    assert ctx.outcome in ("hangup", "abandoned")
    assert (ctx.path[-1].node, ctx.path[-1].exit) == ("main", "hangup")
    assert ctx.inn == INN  # what was collected before is kept
    assert_no_plaintext_clip(hotline, call.uniqueid)
    hotline.wait_for("the FastAGI socket to close", lambda: hotline.server.active_calls == 0)
    wait_no_channels(asterisk)  # the AGI ended on Asterisk's side too: we closed the socket


def test_callback_accepted_then_dialled_through_ami_when_an_operator_is_free(hotline: Hotline) -> None:
    router = hotline.engine.router
    call = hotline.call()
    walk_identity(call)
    call.on(r"STREAM FILE ivr/ru/menu\.main ", "6")  # benefits: op103
    call.on(r"STREAM FILE ivr/ru/consent\.ask_keys ", "1")
    call.on(r"STREAM FILE ivr/ru/queue\.callback_offer ", "1")  # "press 1 to be called back"
    call.hear(r"STREAM FILE ivr/ru/callback\.number_is ")  # "we will call you at ..."
    call.on(r"STREAM FILE ivr/ru/callback\.confirm_number ", "1")
    # "we will call you back", the appeal number and goodbye: one Playback, no key cuts it short
    call.hear(r'EXEC Playback "ivr/ru/callback\.booked&ivr/ru/common\.your_appeal&')
    call.hang_up()  # the citizen does not wait for the appeal number and goodbye
    call.wait_gone()
    ctx, session = hotline.ended(call.uniqueid)
    assert session.ended_by == "caller_hangup"
    assert (ctx.outcome, ctx.callback_number, ctx.topic) == ("callback", "+" + CITIZEN, "benefits")
    assert router.status(call.uniqueid).state == "callback"

    mark = hotline.log.mark()
    router.set_operator_state("op103", "available")  # the engine's next tick dials
    _, originated = hotline.log.wait(
        lambda e: e.get("Event") == "OriginateResponse" and e.get("Uniqueid", "").startswith("ivr-cb-"),
        after=mark, what="the engine's Originate")
    assert originated["Response"] == "Success"  # the operator's leg answered
    leg = originated["Uniqueid"]
    hotline.log.wait(lambda e: e.get("Event") == "UserEvent" and e.get("UserEvent") == "TestOperatorAnswered"
                     and e.get("Operator") == "op103", after=mark, what="op103's phone to answer")
    _, dial_end = hotline.log.wait(
        lambda e: e.get("Event") == "DialEnd" and e.get("Uniqueid") == leg, after=mark,
        what="the citizen to be dialled")
    assert dial_end["DestChannel"].startswith(f"Local/{CITIZEN}@test-citizen-")
    assert dial_end["DialStatus"] == "ANSWER"
    assert dial_end["CallerIDNum"] == "88005553535" or dial_end.get("DestConnectedLineNum") == "88005553535"
    hotline.log.wait(lambda e: e.get("Event") == "UserEvent" and e.get("UserEvent") == "TestCitizenAnswered"
                     and e.get("Number") == CITIZEN, after=mark, what="the citizen to answer")
    hotline.wait_for("the callback to be reported answered",
                     lambda: router.status(call.uniqueid).state in ("connected", "gone"))
    hotline.wait_for("the callback call to end", lambda: hotline.dialer.in_progress == 0)
    assert router.status(call.uniqueid).state == "gone"
    assert router.operator_status("op103").state == "wrap_up"


def test_sip_call_over_the_trunk_walks_to_the_main_menu_with_rfc2833_dtmf(
    hotline: Hotline, tmp_path: Path
) -> None:
    """sipp is the carrier: INVITE to the shipped trunk (identify by address); on the call's
    RTP the caller presses RFC 2833 keys and says their name as each prompt starts; the
    carrier's BYE during the main menu."""
    mark = hotline.log.mark()
    rtp_port = free_udp_port(even=True)
    scenario = scenario_with(SIPP_DIR / "hotline_dtmf.xml", tmp_path / "citizen.xml", RTP_PORT=rtp_port)
    messages = tmp_path / "citizen" / "messages.log"
    sipp = Sipp(scenario, service=HOTLINE_NUMBER, local_ip="127.0.0.1", remote="127.0.0.1:5060",
                workdir=tmp_path / "citizen", timeout_s=60, extra=("-trace_msg", "-message_file", str(messages))).start()
    keys: RtpKeys | None = None
    try:
        _, channel = hotline.log.wait(lambda e: e.get("Event") == "Newchannel"
                                      and e.get("Channel", "").startswith("PJSIP/trunk-"),
                                      after=mark, what="the trunk's channel")
        uid, trunk_channel = channel["Uniqueid"], channel["Channel"]
        hotline.wait_for("Asterisk to answer the call", lambda: RtpKeys.media_of(messages) is not None)
        media = RtpKeys.media_of(messages)
        assert media is not None
        keys = RtpKeys(("127.0.0.1", rtp_port), media).start()
        after = mark

        def hear(pattern: str) -> None:
            nonlocal after
            rx = re.compile(pattern)
            after = 1 + hotline.log.wait(
                lambda e: e.get("Event") == "AGIExecStart" and e.get("Uniqueid") == uid
                and rx.search(e.get("Command", "")) is not None, after=after, timeout=40,
                what=f"the engine to run {pattern!r}")[0]

        hear(r"^STREAM FILE ivr/ru/welcome ")
        time.sleep(0.5)
        keys.press("1")  # Russian
        hear(r"^RECORD FILE ")
        time.sleep(BEEP_SECONDS)
        keys.say(hotline.name_alaw)  # the name, after the beep
        keys.press("#")
        hear(r"^STREAM FILE ivr/ru/identity\.enter_number ")
        time.sleep(0.5)
        keys.press("#")  # no ИНН/СНИЛС
        hear(r"^STREAM FILE ivr/ru/menu\.main ")
        time.sleep(1.0)
        # The cue for sipp to hang up: a NOTIFY in the call's dialog; sipp answers it and BYEs.
        hotline.ami.action("PJSIPNotify", Channel=trunk_channel, Variable="Event=hotline-test-hang-up")
        sipp.wait(30)
    finally:
        sipp.kill()
        if keys is not None:
            keys.close()

    dtmf = [e["Digit"] for e in hotline.log.select(
        lambda e: e.get("Event") == "DTMFEnd" and e.get("Uniqueid") == uid
        and e.get("Direction") == "Received", after=mark)]
    assert dtmf == ["1", "#", "#"]
    ctx, session = hotline.ended(uid)
    assert session.ended_by == "caller_hangup"
    assert ctx.caller == "79990000002" and ctx.dialled == HOTLINE_NUMBER
    assert [(s.node, s.exit, s.detail) for s in ctx.path] == [
        ("welcome", "done", ""), ("language", "key", "1"), ("ask_name", "done", "recorded"),
        ("ask_number", "key", "skipped"), ("main", "hangup", "")]
    assert_no_plaintext_clip(hotline, uid)
    assert_spoken_name_stored(hotline, uid, trunk_channel)
    assert any(e.get("Command", "").startswith("STREAM FILE ivr/ru/menu.main ") for e in hotline.log.select(
        lambda e: e.get("Event") == "AGIExecStart" and e.get("Uniqueid") == uid, after=mark))
    hotline.wait_for("the FastAGI socket to close", lambda: hotline.server.active_calls == 0)


def test_asterisk_logged_no_warning_during_the_calls(hotline: Hotline, asterisk: AsteriskHarness) -> None:
    """Runs last: the shipped dialplan ran every path above without a warning or an error."""
    problems = [line for line in asterisk.boot_log() if " ERROR[" in line or " WARNING[" in line]
    assert problems == []
