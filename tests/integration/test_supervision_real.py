"""Supervisors listen, whisper and barge in on a bridged call of the real Asterisk 22.

The engine is the one ``ivr serve`` runs (as in test_hotline_real), with its console.  Two
phones register to the shipped pjsip.conf from 127.0.0.3 (127.0.0.1 is this tier's
carrier): the operator op102 and the supervisor sup201 (user ``sveta``'s phone).  Each is
sipp for the SIP and a :class:`RtpPhone` for the audio: it sends A-law every 20 ms (silence
unless it says something), as a phone does, and keeps what Asterisk sends it, so the test
measures what each person hears.  The citizen walks the menu to the payments queue
(AMI-driven Local channel, as in test_hotline_real) and is put through to op102's phone;
the supervisor clicks the dashboard's buttons in real Chromium while the operator's page is
open in another.

Why real phones on both sides: Asterisk 22's ChanSpy notices a Hangup of the supervisor's
leg only when the spied-on channel carries audio (asterisk/asterisk#978); a phone always
sends RTP, a dialplan ``Wait()`` never does.
"""

from __future__ import annotations

import audioop
import dataclasses
import json
import re
import select
import socket
import struct
import threading
import time
import wave
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from asterisk_harness import AsteriskHarness
from hotline_calls import Citizen, EventLog, engine_serving
from hotline_conf import ENGINE_AMI_SECRET, ENGINE_AMI_USER
from selenium.webdriver.common.by import By
from sipp_runner import SIPP_DIR, Sipp, free_udp_port, scenario_with
from test_hotline_real import (
    NAME_SAID,
    NOON,
    RECORDING_KEY,
    Hotline,
    hotline_config,
    render_name,
    walk_identity,
)
from werkzeug.security import generate_password_hash

from ivr.aftermenu.control import CallNotLive
from ivr.aftermenu.legs import Legs
from ivr.asterisk.control import AsteriskControl
from ivr.asterisk.wiring import ami_services, fastagi_server
from ivr.config import Secrets
from ivr.config.schema import UserConfig
from ivr.engine import build_engine
from ivr.prompts.build import build_prompts
from ivr.prompts.catalog import load_catalog
from ivr.web.app import create_app
from ivr.web.server import HttpServer
from tests.console.live import headless_chromium, log_in
from tests.console.test_browser_supervision import attr, click, wait
from tests.embedded import embedded_redis

pytestmark = pytest.mark.asterisk

PASSWORD = "correct horse battery"
SUPERVISOR_PHONE, OPERATOR_PHONE = "sup201", "op102"
# The citizen's line while they do not speak: two minutes of silence played into the call
# (a phone's RTP never stops; a Wait() sends nothing, and a whisper is mixed into the audio
# going to the operator: without any, there is nothing to mix it into).
HUM = "ivr-test/silence"
PHONE_PASSWORD = "CHANGE-ME"  # the shipped pjsip.conf's, unedited in this tier
ALAW_SILENCE = b"\xd5" * 160
# The phone's own address: from 127.0.0.1 every SIP request is the carrier's (this tier's
# trunk is identified by that address, and identify-by-address comes first).
PHONE_IP = "127.0.0.3"
SPEECH_RMS, QUIET_RMS = 300, 60  # A-law decoded to 16-bit: a voice, and what silence stays under


class RtpPhone:
    """A phone's audio on the RTP port its SDP announced (sipp does the SIP): 20 ms of A-law
    every 20 ms to the address of the last INVITE Asterisk sent it (silence unless it says
    something), and every packet Asterisk sends back, with when it came."""

    SSRC = 0x5EC0_0001

    def __init__(self, port: int, messages: Path) -> None:
        self.messages = messages
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind((PHONE_IP, port))
        self.sock.setblocking(False)
        self.packets: list[tuple[float, int, bytes]] = []  # (monotonic, payload type, payload)
        self.speech: list[bytes] = []  # 160-byte frames still to say
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"rtp-{port}", daemon=True)
        self._thread.start()

    def _remote(self) -> tuple[str, int] | None:
        if not self.messages.exists():
            return None
        found = re.findall(r"INVITE sip:.*?\nc=IN IP4 (\S+).*?\nm=audio (\d+)",
                           self.messages.read_text(errors="replace"), re.DOTALL)
        return (found[-1][0], int(found[-1][1])) if found else None

    def _run(self) -> None:
        seq, stamp, tick = 1, 0, time.monotonic()
        remote, looked = None, 0.0
        while not self._stop.is_set():
            now = time.monotonic()
            if now - looked > 0.2:
                remote, looked = self._remote(), now
            if remote is not None:
                with self._lock:
                    frame = self.speech.pop(0) if self.speech else ALAW_SILENCE
                head = struct.pack(">BBHII", 0x80, 8, seq & 0xFFFF, stamp & 0xFFFFFFFF, self.SSRC)
                try:
                    self.sock.sendto(head + frame, remote)
                except OSError:
                    pass
                seq, stamp = seq + 1, stamp + 160
            tick += 0.02
            while True:  # what came in meanwhile, until the next 20 ms
                left = tick - time.monotonic()
                if left <= 0:
                    break
                ready, _, _ = select.select([self.sock], [], [], left)
                if not ready:
                    break
                try:
                    data = self.sock.recv(2048)
                except OSError:
                    break
                if len(data) > 12 and data[0] >> 6 == 2:
                    self.packets.append((time.monotonic(), data[1] & 0x7F, data[12:]))

    def say(self, alaw: bytes) -> None:
        """Speak ``alaw`` into the call; returns when it has been sent."""
        with self._lock:
            self.speech.extend(alaw[i:i + 160].ljust(160, b"\xd5") for i in range(0, len(alaw), 160))
        while True:
            with self._lock:
                if not self.speech:
                    return
            time.sleep(0.02)

    def heard(self, start: float, end: float) -> tuple[int, float]:
        """Packets of A-law audio between ``start`` and ``end``, and their loudness (RMS)."""
        audio = [p for t, pt, p in list(self.packets) if start <= t <= end and pt == 8]
        pcm = audioop.alaw2lin(b"".join(audio), 2)
        return len(audio), float(audioop.rms(pcm, 2)) if pcm else 0.0

    def close(self) -> None:
        self._stop.set()
        self._thread.join(2)
        self.sock.close()


class Phone:
    """One registered phone: sipp answering (``calls`` calls), its audio a :class:`RtpPhone`."""

    def __init__(self, endpoint: str, workdir: Path, *, calls: int) -> None:
        register = Sipp(SIPP_DIR / "operator_register.xml", service=endpoint, local_ip=PHONE_IP,
                        remote="127.0.0.1:5060", workdir=workdir / "register",
                        extra=("-au", endpoint, "-ap", PHONE_PASSWORD), timeout_s=15).start()
        register.wait()
        port = free_udp_port(even=True, host=PHONE_IP)
        messages = workdir / "messages.log"
        scenario = scenario_with(SIPP_DIR / "phone_answers.xml", workdir / "phone.xml", RTP_PORT=port)
        self.sipp = Sipp(scenario, service=endpoint, local_ip=PHONE_IP, remote="127.0.0.1:5060",
                         port=register.port, workdir=workdir / "calls", timeout_s=180,
                         extra=("-m", str(calls), "-trace_msg", "-message_file", str(messages))).start()
        self.audio = RtpPhone(port, messages)

    def close(self) -> None:
        self.sipp.kill()
        self.audio.close()


@dataclass
class Desk:
    hotline: Hotline
    app: Any
    base_url: str  # the console, served as ivr serve serves it (real Chromium opens it)


@pytest.fixture(scope="module")
def desk(asterisk: AsteriskHarness, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Desk]:
    tmp = tmp_path_factory.mktemp("supervision")
    config = hotline_config(asterisk.root, tmp)
    operators = dict(config.operators)
    operators[OPERATOR_PHONE] = dataclasses.replace(operators[OPERATOR_PHONE], endpoint=f"PJSIP/{OPERATOR_PHONE}")
    digest = generate_password_hash(PASSWORD, method="pbkdf2:sha256:1000")
    config = dataclasses.replace(
        config,
        operators=operators,
        users={"sveta": UserConfig(role="supervisor", password_hash=digest, phone=f"PJSIP/{SUPERVISOR_PHONE}"),
               "olga": UserConfig(role="operator", password_hash=digest, operator="op102")},
        console=dataclasses.replace(config.console, audit_log=str(tmp / "audit" / "console.jsonl")),
        recordings=dataclasses.replace(config.recordings, audit_log=str(tmp / "audit" / "rec.jsonl"),
                                       deletion_log=str(tmp / "audit" / "deleted.jsonl")),
    )
    catalog, problems = load_catalog(config.path(config.prompts.dir))
    assert not problems
    report = build_prompts(catalog, config.prompts.sounds_dir, voices=config.prompts.voices, jobs=2)
    assert report.ok, report.failed
    (asterisk.root / "var/spool/asterisk/ivr").mkdir(parents=True, exist_ok=True)
    (asterisk.root / "var/spool/asterisk/monitor/ivr").mkdir(parents=True, exist_ok=True)
    name_alaw = render_name(asterisk.root)
    with wave.open(str(asterisk.root / "usr/share/asterisk/sounds" / f"{HUM}.wav"), "wb") as hum:
        hum.setnchannels(1)
        hum.setsampwidth(2)
        hum.setframerate(8000)
        hum.writeframes(b"\0\0" * 8000 * 120)

    start = time.monotonic()
    redis_server = embedded_redis(str(tmp / "redis.db"))
    engine = build_engine(config, Secrets(recording_key=RECORDING_KEY, secret_key="supervision-test-key"),
                          redis=redis_server, clock=lambda: NOON + (time.monotonic() - start))
    server = fastagi_server(engine, ("127.0.0.1", 0))
    engine_ami = ami_services(engine, host="127.0.0.1", port=5038, username=ENGINE_AMI_USER,
                              secret=ENGINE_AMI_SECRET)
    ami = asterisk.ami()
    world = Hotline(engine=engine, server=server, dialer=engine_ami.dialer, ami=ami, asterisk=asterisk,
                    log=EventLog(ami), name_alaw=name_alaw)
    with engine_serving(engine, server, ami=ami, engine_ami=engine_ami, redis_server=redis_server):
        app = create_app(engine)
        web = HttpServer(app, address=("127.0.0.1", 0), settings=config.http).start()
        try:
            yield Desk(hotline=world, app=app, base_url=f"http://127.0.0.1:{web.address[1]}")
        finally:
            web.shutdown()


class Console:
    """The supervisor's console, as the dashboard's buttons call it."""

    def __init__(self, app: Any, user: str) -> None:
        self.client = app.test_client()
        page = self.client.get("/login").get_data(as_text=True)
        token = re.search(r'name="csrf-token" content="([^"]+)"', page)
        assert token
        reply = self.client.post("/login", data={"username": user, "password": PASSWORD,
                                                 "csrf_token": token.group(1)})
        assert reply.status_code == 302, reply.get_data(as_text=True)
        page = self.client.get(reply.headers["Location"]).get_data(as_text=True)
        token = re.search(r'name="csrf-token" content="([^"]+)"', page)
        assert token
        self.csrf = token.group(1)

    def post(self, url: str, body: dict[str, str] | None = None) -> Any:
        return self.client.post(url, json=body or {}, headers={"X-CSRF-Token": self.csrf})


def audit_lines(desk: Desk) -> list[dict[str, Any]]:
    path = Path(desk.hotline.engine.config.console.audit_log)
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def hum(desk: Desk, call: Citizen) -> None:
    """The citizen's phone sends silence into the call (test-caller-says plays TEST_SAY)."""
    desk.hotline.ami.action("Setvar", Channel=call.phone, Variable="TEST_SAY", Value=HUM)
    desk.hotline.ami.action("Redirect", Channel=call.phone, Context="test-caller-says", Exten="say", Priority="1")


def spying(desk: Desk, after: int, spyee: str) -> dict[str, str]:
    """Asterisk's own word that ChanSpy runs on ``spyee``, from the supervisor's phone."""
    return desk.hotline.log.wait(
        lambda e: e.get("Event") == "ChanSpyStart" and e.get("SpyeeChannel") == spyee
        and e.get("SpyerChannel", "").startswith(f"PJSIP/{SUPERVISOR_PHONE}-"),
        after=after, timeout=20, what="ChanSpy to start on the operator's channel")[1]


def test_listen_whisper_leave_then_barge_from_the_dashboard_until_the_citizen_hangs_up(
    desk: Desk, tmp_path: Path
) -> None:
    """The supervisor's buttons in real Chromium, the operator's page in another; what each
    phone hears measured on its RTP."""
    hotline, engine = desk.hotline, desk.hotline.engine
    key = "{" + engine.config.redis.prefix + "}:supervision"
    operator = Phone(OPERATOR_PHONE, tmp_path / "operator", calls=1)
    supervisor = Phone(SUPERVISOR_PHONE, tmp_path / "supervisor", calls=3)  # listen, whisper, barge
    call = hotline.call()
    try:
        walk_identity(call)
        call.on(r"STREAM FILE ivr/ru/menu\.main ", "4")  # payments: op102
        call.on(r"STREAM FILE ivr/ru/consent\.ask_keys ", "2")
        call.hear(r"^EXEC StartMusicOnHold")
        engine.router.set_operator_state("op102", "available")
        hotline.wait_for("the legs of the bridged call", lambda: engine.call_life.legs.get(call.uniqueid) is not None)
        legs = engine.call_life.legs.get(call.uniqueid)
        assert legs is not None and legs.operator.startswith("PJSIP/op102-")
        hum(desk, call)
        with headless_chromium() as olga, headless_chromium() as sveta:
            log_in(olga, desk.base_url, "olga")  # the operator's page, in Russian
            wait(olga, lambda d: d.current_url.endswith("/operator"))
            wait(olga, lambda d: attr(d, "state", "data-state") == "on_call")
            log_in(sveta, desk.base_url, "sveta")
            sveta.get(desk.base_url + "/supervisor")
            wait(sveta, lambda d: d.find_elements(By.ID, "supervise-op102-listen"))

            # Listen: the supervisor hears the citizen; nobody is told.
            mark = hotline.log.mark()
            click(sveta, "supervise-op102-listen")
            wait(sveta, lambda d: attr(d, "supervise", "data-mode") == "listen")
            listening = spying(desk, mark, legs.operator)["SpyerChannel"]
            channels = hotline.asterisk.cli("core show channels concise")
            assert f"!ChanSpy!{legs.operator},quES!" in channels, channels  # that channel, quietly
            time.sleep(1.0)
            quiet_from = time.monotonic()
            time.sleep(1.5)  # nobody speaks: both phones and the citizen's line carry silence
            packets, quiet = supervisor.audio.heard(quiet_from, time.monotonic())
            assert packets > 20, f"the supervisor's phone got {packets} RTP packets in 1.5 s"
            said_from = time.monotonic()
            call.say(NAME_SAID)  # the citizen speaks into the call: ~2 s of voice
            time.sleep(0.3)
            packets, loud = supervisor.audio.heard(said_from, time.monotonic())
            assert packets > 20, packets
            assert quiet < QUIET_RMS and loud > SPEECH_RMS, (quiet, loud)
            hum(desk, call)
            assert olga.find_element(By.ID, "supervisor-on-call").get_attribute("hidden") is not None

            # Whisper: the listening leg is hung up, the phone rung again into ChanSpy with w;
            # what the supervisor says, the operator hears, and the operator's page says so.
            mark = hotline.log.mark()
            click(sveta, "supervise-op102-whisper")
            wait(sveta, lambda d: attr(d, "supervise", "data-mode") == "whisper")
            hotline.log.wait(lambda e: e.get("Event") == "Hangup" and e.get("Channel") == listening,
                             after=mark, what="the listening leg to be hung up")
            whispering = spying(desk, mark, legs.operator)["SpyerChannel"]
            assert f"!ChanSpy!{legs.operator},quESw!" in hotline.asterisk.cli("core show channels concise")
            assert json.loads(engine.redis.hget(key, "sveta"))["mode"] == "whisper"
            wait(olga, lambda d: attr(d, "supervisor-on-call", "data-mode") == "whisper")
            assert olga.find_element(By.ID, "supervisor-on-call").text == (
                "Супервизор sveta подсказывает вам: его слышите только вы")
            time.sleep(1.0)
            quiet_from = time.monotonic()
            time.sleep(1.0)
            _, quiet = operator.audio.heard(quiet_from, time.monotonic())
            said_from = time.monotonic()
            supervisor.audio.say(hotline.name_alaw)
            time.sleep(0.3)
            _, loud = operator.audio.heard(said_from, time.monotonic())
            assert quiet < QUIET_RMS and loud > SPEECH_RMS, (quiet, loud)

            # Leave: the whispering leg is hung up; the operator's page clears.
            mark = hotline.log.mark()
            click(sveta, "supervise-stop")
            wait(sveta, lambda d: attr(d, "supervise", "data-mode") == "")
            hotline.log.wait(lambda e: e.get("Event") == "Hangup" and e.get("Channel") == whispering,
                             after=mark, what="the whispering leg to be hung up")
            assert engine.redis.hget(key, "sveta") is None
            wait(olga, lambda d: d.find_element(By.ID, "supervisor-on-call").get_attribute("hidden") is not None)

            # Barge in: the operator hears the supervisor and is told all hear them; then the
            # citizen hangs up: ChanSpy exits (E), the supervisor's leg ends, and the AMI
            # Hangup of its handle ends the supervision, audited; the buttons go.
            mark = hotline.log.mark()
            click(sveta, "supervise-op102-barge")
            wait(sveta, lambda d: attr(d, "supervise", "data-mode") == "barge")
            spying(desk, mark, legs.operator)
            assert f"!ChanSpy!{legs.operator},quESB!" in hotline.asterisk.cli("core show channels concise")
            wait(olga, lambda d: attr(d, "supervisor-on-call", "data-mode") == "barge")
            said_from = time.monotonic()
            supervisor.audio.say(hotline.name_alaw)
            time.sleep(0.3)
            _, loud = operator.audio.heard(said_from, time.monotonic())
            assert loud > SPEECH_RMS, loud
            call.hang_up()
            call.wait_gone()
            supervisor.sipp.wait(30)  # three calls, each ended with Asterisk's BYE
            operator.sipp.wait(30)
            hotline.wait_for("the supervision to end", lambda: engine.redis.hget(key, "sveta") is None)
            wait(olga, lambda d: d.find_element(By.ID, "supervisor-on-call").get_attribute("hidden") is not None)
            wait(sveta, lambda d: not d.find_elements(By.ID, "supervise-op102-listen"))
            wait(sveta, lambda d: attr(d, "supervise", "data-mode") == "")

        # A supervisor action on the call that ended (the same request the buttons send):
        # refused clearly, and audited.
        reply = Console(desk.app, "sveta").post("/supervisor/api/supervise",
                                                {"call": call.uniqueid, "mode": "listen"})
        assert reply.status_code == 410 and reply.get_json()["error"] == "call_not_live"
    finally:
        operator.close()
        supervisor.close()

    lines = [(x["actor"], x["action"], x["call"], x["outcome"], x.get("detail", "")) for x in audit_lines(desk)
             if x["action"].startswith("supervise")]
    uid = call.uniqueid
    assert [(a, act, c, o) for a, act, c, o, _ in lines] == [
        ("sveta", "supervise_start", uid, "allowed"), ("sveta", "supervise_end", uid, "done"),
        ("sveta", "supervise_start", uid, "allowed"), ("sveta", "supervise_end", uid, "done"),
        ("sveta", "supervise_start", uid, "allowed"), ("sveta", "supervise_end", uid, "done"),
        ("sveta", "supervise_start", uid, "refused")]
    details = [d for *_, d in lines]
    assert details[0] == "mode=listen operator=op102 phone=PJSIP/sup201"
    assert details[1].startswith("mode=listen reason=switched")
    assert details[2] == "mode=whisper operator=op102 phone=PJSIP/sup201"
    assert details[3].startswith("mode=whisper reason=stopped")
    assert details[4] == "mode=barge operator=op102 phone=PJSIP/sup201"
    assert details[5].startswith("mode=barge reason=hung_up")
    assert details[6] == "mode=listen why=call_not_live"


def test_a_channel_that_is_gone_is_not_live_and_stopping_a_gone_leg_is_done(desk: Desk) -> None:
    """Asterisk 22's own replies: Getvar on a channel that does not exist ("No such
    channel") refuses before any phone rings; Hangup of a handle already gone is stopped."""
    control = desk.hotline.engine.live_controls["asterisk"]
    assert isinstance(control, AsteriskControl)
    mark = desk.hotline.log.mark()
    legs = Legs("gone-call", "asterisk", "op101", caller="PJSIP/trunk-0000fffe", operator="PJSIP/op101-0000ffff",
                since=0.0)
    with pytest.raises(CallNotLive):
        control.spy(legs, "PJSIP/sup201", "listen")
    control.stop_spying(legs, "ivr-spy-00000000000000000000000000000000")
    time.sleep(1)
    assert desk.hotline.log.select(lambda e: e.get("Event") == "Newchannel"
                                   and e.get("Channel", "").startswith("PJSIP/sup201"), after=mark) == []

