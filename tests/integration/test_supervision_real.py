"""A supervisor listens to, then whispers into, a bridged call on the real Asterisk 22.

The engine is the one ``ivr serve`` runs (as in test_hotline_real), with its console;
the supervisor ``sveta`` has the phone ``PJSIP/sup201`` (the shipped pjsip.conf), a sipp
phone that registers and answers, announcing an RTP port the test owns: every packet
Asterisk sends the supervisor lands there, and the test measures what is in it.  The
citizen walks the menu to the payments queue (AMI-driven Local channel, as in
test_hotline_real) and is put through to op102; then the citizen speaks (a real voice,
espeak-ng, played into the call) and the supervisor must hear it.
"""

from __future__ import annotations

import audioop
import dataclasses
import json
import re
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from asterisk_harness import AsteriskHarness
from hotline_calls import EventLog
from hotline_conf import ENGINE_AMI_SECRET, ENGINE_AMI_USER
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
from ivr.serve import serve
from ivr.web.app import create_app
from tests.embedded import embedded_redis

pytestmark = pytest.mark.asterisk

PASSWORD = "correct horse battery"
SUPERVISOR_PHONE, SUPERVISOR_PASSWORD = "sup201", "CHANGE-ME"  # the shipped pjsip.conf's, unedited here
# The phone's own address: from 127.0.0.1 every SIP request is the carrier's (this tier's
# trunk is identified by that address, and identify-by-address comes first).
PHONE_IP = "127.0.0.3"
SPEECH_RMS, QUIET_RMS = 300, 60  # A-law decoded to 16-bit: a voice, and what silence stays under


class Ears:
    """The supervisor's RTP port: every packet Asterisk sends, with when it came."""

    def __init__(self, port: int) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind((PHONE_IP, port))
        self.sock.settimeout(0.2)
        self.packets: list[tuple[float, int, bytes]] = []  # (monotonic, payload type, payload)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="supervisor-rtp", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                data = self.sock.recv(2048)
            except TimeoutError:
                continue
            except OSError:
                return
            if len(data) > 12 and data[0] >> 6 == 2:
                self.packets.append((time.monotonic(), data[1] & 0x7F, data[12:]))

    def heard(self, start: float, end: float) -> tuple[int, float]:
        """Packets of A-law audio between ``start`` and ``end``, and their loudness (RMS)."""
        audio = [p for t, pt, p in list(self.packets) if start <= t <= end and pt == 8]
        pcm = audioop.alaw2lin(b"".join(audio), 2)
        return len(audio), float(audioop.rms(pcm, 2)) if pcm else 0.0

    def close(self) -> None:
        self._stop.set()
        self.sock.close()
        self._thread.join(2)


@dataclass
class Desk:
    hotline: Hotline
    app: Any


@pytest.fixture(scope="module")
def desk(asterisk: AsteriskHarness, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Desk]:
    tmp = tmp_path_factory.mktemp("supervision")
    config = hotline_config(asterisk.root, tmp)
    digest = generate_password_hash(PASSWORD, method="pbkdf2:sha256:1000")
    config = dataclasses.replace(
        config,
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
    stop, ready = threading.Event(), threading.Event()
    runner = threading.Thread(
        target=serve, name="ivr-serve",
        kwargs={"engine": engine, "http": ("127.0.0.1", 0), "call_servers": [server], "stop": stop,
                "install_signals": False, "on_ready": ready.set})
    runner.start()
    try:
        assert ready.wait(10), "the engine did not start"
        host, port = server.address
        ami.action("Setvar", Variable="IVR_AGI", Value=f"agi://{host}:{port}/hotline")
        app = create_app(engine)
        app.testing = True
        yield Desk(hotline=world, app=app)
    finally:
        stop.set()
        runner.join(timeout=30)
        engine_ami.close()
        ami.close()
        redis_server.connection_pool.disconnect()
        redis_server._cleanup()


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


def spying(desk: Desk, after: int, spyee: str) -> dict[str, str]:
    """Asterisk's own word that ChanSpy runs on ``spyee``, from the supervisor's phone."""
    return desk.hotline.log.wait(
        lambda e: e.get("Event") == "ChanSpyStart" and e.get("SpyeeChannel") == spyee
        and e.get("SpyerChannel", "").startswith(f"PJSIP/{SUPERVISOR_PHONE}-"),
        after=after, timeout=20, what="ChanSpy to start on the operator's channel")[1]


def test_the_supervisor_hears_the_caller_then_whispers_and_the_end_of_the_call_ends_it(
    desk: Desk, tmp_path: Path
) -> None:
    hotline, engine = desk.hotline, desk.hotline.engine
    register = Sipp(SIPP_DIR / "operator_register.xml", service=SUPERVISOR_PHONE, local_ip=PHONE_IP,
                    remote="127.0.0.1:5060", workdir=tmp_path / "register",
                    extra=("-au", SUPERVISOR_PHONE, "-ap", SUPERVISOR_PASSWORD), timeout_s=15).start()
    register.wait()
    rtp_port = free_udp_port(even=True, host=PHONE_IP)
    ears = Ears(rtp_port)
    scenario = scenario_with(SIPP_DIR / "supervisor_answers.xml", tmp_path / "supervisor.xml", RTP_PORT=rtp_port)
    # Two calls: listening, then (switched to whisper) rung again.
    phone = Sipp(scenario, service=SUPERVISOR_PHONE, local_ip=PHONE_IP, remote="127.0.0.1:5060",
                 port=register.port, workdir=tmp_path / "supervisor", timeout_s=150, extra=("-m", "2")).start()
    call = hotline.call()
    try:
        walk_identity(call)
        call.on(r"STREAM FILE ivr/ru/menu\.main ", "4")  # payments: op102
        call.on(r"STREAM FILE ivr/ru/consent\.ask ", "2")
        call.hear(r"^EXEC StartMusicOnHold")
        # The operator's phone (test-operator) stays on the line for a minute, not two seconds.
        hotline.ami.action("Setvar", Channel=call.channel, Variable="__TEST_TALK_SECONDS", Value="60")
        engine.router.set_operator_state("op102", "available")
        hotline.wait_for("the legs of the bridged call", lambda: engine.call_life.legs.get(call.uniqueid) is not None)
        legs = engine.call_life.legs.get(call.uniqueid)
        assert legs is not None and legs.operator.startswith("Local/op102@test-operator-")

        console = Console(desk.app, "sveta")
        mark = hotline.log.mark()
        reply = console.post("/supervisor/api/supervise", {"call": call.uniqueid, "mode": "listen"})
        assert reply.status_code == 200, reply.get_data(as_text=True)
        watch = reply.get_json()["watch"]
        assert (watch["mode"], watch["operator"], watch["phone"]) == ("listen", "op102", "PJSIP/sup201")
        spy = spying(desk, mark, legs.operator)
        # What runs on the supervisor's channel: ChanSpy on exactly that channel, quietly.
        channels = hotline.asterisk.cli("core show channels concise")
        assert f"!ChanSpy!{legs.operator},quES!" in channels, channels
        time.sleep(1.0)
        quiet_from = time.monotonic()
        time.sleep(1.5)  # nobody speaks: the citizen and the operator wait (no audio, or silence)
        _, quiet = ears.heard(quiet_from, time.monotonic())
        said_from = time.monotonic()
        call.say(NAME_SAID)  # the citizen speaks into the call: ~2 s of voice
        time.sleep(0.3)
        packets, loud = ears.heard(said_from, time.monotonic())
        assert packets > 50, f"the supervisor's phone got {packets} RTP packets while the citizen spoke"
        assert quiet < QUIET_RMS and loud > SPEECH_RMS, (quiet, loud)

        # Whisper: the first leg is hung up, the phone rung again into ChanSpy with w.
        mark = hotline.log.mark()
        reply = console.post("/supervisor/api/supervise", {"call": call.uniqueid, "mode": "whisper"})
        assert reply.status_code == 200, reply.get_data(as_text=True)
        hotline.log.wait(lambda e: e.get("Event") == "Hangup" and e.get("Channel") == spy["SpyerChannel"],
                         after=mark, what="the listening leg to be hung up")
        spying(desk, mark, legs.operator)
        assert f"!ChanSpy!{legs.operator},quESw!" in hotline.asterisk.cli("core show channels concise")
        whisper = engine.redis.hget("{" + engine.config.redis.prefix + "}:supervision", "sveta")
        assert json.loads(whisper)["mode"] == "whisper"

        # The citizen hangs up: ChanSpy exits (E), the supervisor's leg ends, and the AMI
        # Hangup of its handle ends the supervision, audited.
        call.hang_up()
        call.wait_gone()
        phone.wait(30)  # both supervisor calls ended with a BYE from Asterisk
        hotline.wait_for("the supervision to end",
                         lambda: engine.redis.hget("{" + engine.config.redis.prefix + "}:supervision", "sveta") is None)

        # A supervisor action on the call that ended: refused clearly, and audited.
        reply = console.post("/supervisor/api/supervise", {"call": call.uniqueid, "mode": "barge"})
        assert reply.status_code == 410 and reply.get_json()["error"] == "call_not_live"
    finally:
        phone.kill()
        ears.close()

    lines = [(x["actor"], x["action"], x["call"], x["outcome"], x.get("detail", "")) for x in audit_lines(desk)
             if x["action"].startswith("supervise")]
    uid = call.uniqueid
    assert [(a, act, c, o) for a, act, c, o, _ in lines] == [
        ("sveta", "supervise_start", uid, "allowed"), ("sveta", "supervise_end", uid, "done"),
        ("sveta", "supervise_start", uid, "allowed"), ("sveta", "supervise_end", uid, "done"),
        ("sveta", "supervise_start", uid, "refused")]
    details = [d for *_, d in lines]
    assert details[0].startswith("mode=listen operator=op102 phone=PJSIP/sup201")
    assert details[1].startswith("mode=listen reason=switched")
    assert details[2].startswith("mode=whisper operator=op102")
    assert details[3].startswith("mode=whisper reason=hung_up")
    assert details[4] == "mode=barge why=call_not_live"


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

