"""Recording pause on the real Asterisk 22: the paused span of the stored recording is silence.

A citizen (sipp, over the shipped trunk) walks the menu into the general queue and consents
to recording; op101's phone (sipp, registered with the shipped pjsip.conf) answers the
hand-over.  Both talk from the answer on: the citizen a 600 Hz tone, the operator a 1400 Hz
tone (RTP streams the test makes).  The engine ``ivr serve`` runs (FastAGI, AMI, its
once-a-second spool scan) pauses the recording four seconds in through the same service the
operator's "pause" button uses (``AMI MixMonitorMute``, both directions), resumes it four
seconds later, and the citizen hangs up four seconds after that.  The stored recording is
decrypted: inside the paused span its metadata names there is no sound at all; before and
after it both voices are there.  The same once more after another operator (op102, a phone
that answers busy) missed the call first: the citizen went back through
``[operator-handover]``, which started no second MixMonitor on the channel (one file per
call), and the recording is paused all the same.  On the way,
Asterisk's refusals as the engine reads them:
``Cannot set mute flag`` (a channel without MixMonitor) and ``No such channel`` (the call over).
"""

from __future__ import annotations

import array
import audioop
import dataclasses
import io
import math
import re
import threading
import time
import wave
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from ami_client import AmiClient
from asterisk_harness import AsteriskHarness
from hotline_calls import EventLog, engine_serving
from hotline_conf import ENGINE_AMI_SECRET, ENGINE_AMI_USER
from sipp_runner import (
    SIPP_DIR,
    RtpKeys,
    Sipp,
    _write_udp_pcap,
    free_udp_port,
    rtp_packet,
    scenario_with,
)
from test_hotline_real import HOTLINE_NUMBER, NOON, RECORDING_KEY, hotline_config

from ivr.aftermenu.control import CallNotLive, TelephonyFailed
from ivr.asterisk.control import AsteriskControl
from ivr.asterisk.wiring import ami_services, fastagi_server
from ivr.config import Secrets
from ivr.engine import Engine, build_engine
from ivr.prompts.build import build_prompts
from ivr.prompts.catalog import load_catalog
from ivr.recordings.meta import RecordingMeta
from ivr.recordings.pauses import RecordingPause
from tests.embedded import embedded_redis

pytestmark = pytest.mark.asterisk

OPERATOR, OPERATOR_PASSWORD = "op101", "CHANGE-ME"  # the shipped pjsip.conf's sample password
BUSY_OPERATOR = "op102"  # a phone that answers busy (Local/op102@pause-test-busy)
PHONES_IP = "127.0.0.2"  # the trunk is identified by 127.0.0.1: the operator's phone is elsewhere
CALLER_HZ, OPERATOR_HZ = 600.0, 1400.0
TALK, PAUSE_AT, PAUSED_FOR, AFTER = 16.0, 4.0, 4.0, 4.0  # seconds
WINDOW = 800  # samples: 0.1 s at 8 kHz
EDGE = 0.3  # seconds left out at each edge of a span (the answer, the mute taking effect)


@dataclass
class World:
    engine: Engine
    ami: AmiClient
    log: EventLog
    asterisk: AsteriskHarness


def tone_alaw(hz: float, seconds: float, amplitude: int = 8000) -> bytes:
    samples = array.array("h", (round(amplitude * math.sin(2 * math.pi * hz * n / 8000))
                                for n in range(round(seconds * 8000))))
    return audioop.lin2alaw(samples.tobytes(), 2)


def tone_pcap(target: Path, hz: float, seconds: float) -> Path:
    """The operator's voice as sipp's ``play_pcap_audio`` plays it: A-law RTP every 20 ms."""
    audio = tone_alaw(hz, seconds)
    packets = [(i * 0.02, rtp_packet(8, 2000 + i, i * 160, 0x0E0538AA, audio[i * 160:(i + 1) * 160],
                                     marker=i == 0))
               for i in range(len(audio) // 160)]
    _write_udp_pcap(target, packets, source=(PHONES_IP, 6000), destination=("127.0.0.1", 10000))
    return target


def level(frames: array.array[int], hz: float) -> float:
    """The amplitude of ``hz`` in ``frames`` (Goertzel)."""
    k = 2 * math.cos(2 * math.pi * hz / 8000)
    s1 = s2 = 0.0
    for x in frames:
        s1, s2 = x + k * s1 - s2, s1
    power = s1 * s1 + s2 * s2 - k * s1 * s2
    return 2 * math.sqrt(max(power, 0.0)) / len(frames)


def windows(audio: array.array[int], start: float, end: float) -> Iterator[tuple[float, array.array[int]]]:
    """0.1 s windows wholly inside [start, end] seconds."""
    first = math.ceil(start * 8000 / WINDOW)
    last = math.floor(end * 8000 / WINDOW)
    for i in range(first, last):
        yield i * WINDOW / 8000, audio[i * WINDOW:(i + 1) * WINDOW]


@pytest.fixture(scope="module")
def world(asterisk: AsteriskHarness, tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    tmp = tmp_path_factory.mktemp("pause")
    config = hotline_config(asterisk.root, tmp)
    # op101's phone is a real SIP phone (sipp) registered as the shipped pjsip.conf says.
    config = dataclasses.replace(config, operators={
        **config.operators, OPERATOR: dataclasses.replace(config.operators[OPERATOR], endpoint=f"PJSIP/{OPERATOR}"),
        BUSY_OPERATOR: dataclasses.replace(config.operators[BUSY_OPERATOR],
                                           endpoint=f"Local/{BUSY_OPERATOR}@pause-test-busy")})
    catalog, problems = load_catalog(config.path(config.prompts.dir))
    assert not problems
    report = build_prompts(catalog, config.prompts.sounds_dir, voices=config.prompts.voices, jobs=2)
    assert report.ok, report.failed
    for spool in ("var/spool/asterisk/ivr", "var/spool/asterisk/monitor/ivr"):
        (asterisk.root / spool).mkdir(parents=True, exist_ok=True)
    start = time.monotonic()
    redis_server = embedded_redis(str(tmp / "redis.db"))
    engine = build_engine(config, Secrets(recording_key=RECORDING_KEY), redis=redis_server,
                          clock=lambda: NOON + (time.monotonic() - start))
    server = fastagi_server(engine, ("127.0.0.1", 0))
    engine_ami = ami_services(engine, host="127.0.0.1", port=5038, username=ENGINE_AMI_USER,
                              secret=ENGINE_AMI_SECRET)
    asterisk.cli("dialplan add extension _op.,1,Busy() into pause-test-busy")
    ami = asterisk.ami()
    with engine_serving(engine, server, ami=ami, engine_ami=engine_ami, redis_server=redis_server):
        yield World(engine=engine, ami=ami, log=EventLog(ami), asterisk=asterisk)


def test_the_installed_asterisk_documents_mixmonitormute_as_the_engine_sends_it(world: World) -> None:
    help_text = world.asterisk.cli("manager show command MixMonitorMute")
    for field in ("Channel", "Direction", "State"):
        assert field in help_text, help_text
    assert "read, write or both" in help_text


@dataclass
class Stored:
    channel: str  # the caller's (MixMonitor's)
    meta: RecordingMeta
    samples: array.array[int]  # the decrypted recording, 8 kHz 16-bit mono


def call_pause_and_store(world: World, tmp_path: Path, *, missed_first: bool = False) -> Stored:
    """The citizen's call as the module docstring tells it; with ``missed_first`` op102 (a
    phone that answers busy) is offered the call first and misses it, so the citizen goes
    back to the engine and through ``[operator-handover]`` a second time before op101 answers."""
    engine, log = world.engine, world.log
    mark = log.mark()
    register = Sipp(SIPP_DIR / "operator_register.xml", service=OPERATOR, local_ip=PHONES_IP,
                    remote="127.0.0.1:5060", workdir=tmp_path / "register", timeout_s=15,
                    extra=("-au", OPERATOR, "-ap", OPERATOR_PASSWORD)).start()
    register.wait()
    operator_scenario = scenario_with(SIPP_DIR / "operator_talks.xml", tmp_path / "operator.xml",
                                      PCAP=tone_pcap(tmp_path / "operator.pcap", OPERATOR_HZ, 40))
    phone = Sipp(operator_scenario, service=OPERATOR, local_ip=PHONES_IP, remote="127.0.0.1:5060",
                 port=register.port, workdir=tmp_path / "operator", timeout_s=120).start()
    rtp_port = free_udp_port(even=True)
    citizen_scenario = scenario_with(SIPP_DIR / "hotline_to_operator.xml", tmp_path / "citizen.xml",
                                     RTP_PORT=rtp_port)
    messages = tmp_path / "citizen" / "messages.log"
    citizen = Sipp(citizen_scenario, service=HOTLINE_NUMBER, local_ip="127.0.0.1", remote="127.0.0.1:5060",
                   workdir=tmp_path / "citizen", timeout_s=120,
                   extra=("-trace_msg", "-message_file", str(messages))).start()
    keys: RtpKeys | None = None
    talking: threading.Thread | None = None
    try:
        _, channel = log.wait(lambda e: e.get("Event") == "Newchannel"
                              and e.get("Channel", "").startswith("PJSIP/trunk-"), after=mark,
                              what="the trunk's channel")
        uid, trunk_channel = channel["Uniqueid"], channel["Channel"]
        deadline = time.monotonic() + 20
        while (media := RtpKeys.media_of(messages)) is None:
            assert time.monotonic() < deadline, "Asterisk did not answer the citizen"
            time.sleep(0.1)
        keys = RtpKeys(("127.0.0.1", rtp_port), media).start()
        after = mark

        def hear(pattern: str) -> None:
            nonlocal after
            rx = re.compile(pattern)
            after = 1 + log.wait(lambda e: e.get("Event") == "AGIExecStart" and e.get("Uniqueid") == uid
                                 and rx.search(e.get("Command", "")) is not None, after=after, timeout=40,
                                 what=f"the engine to run {pattern!r}")[0]

        for prompt, key in ((r"^STREAM FILE ivr/ru/welcome ", "1"),  # Russian
                            (r"^RECORD FILE ", "#"),  # no name
                            (r"^STREAM FILE ivr/ru/identity\.enter_number ", "#"),  # no number
                            (r"^STREAM FILE ivr/ru/menu\.main ", "0"),  # an operator: general
                            (r"^STREAM FILE ivr/ru/consent\.ask_keys ", "1")):  # recording: yes
            hear(prompt)
            time.sleep(0.5)
            keys.press(key)
        hear(r"^EXEC StartMusicOnHold")
        if missed_first:
            engine.router.set_operator_state(BUSY_OPERATOR, "available")
            _, missed = log.wait(lambda e: e.get("Event") == "DialEnd" and e.get("Uniqueid") == uid,
                                 after=mark, timeout=30, what="op102's phone to answer busy")
            assert missed["DialStatus"] == "BUSY", missed
            hear(r"^EXEC StartMusicOnHold")  # back at the head of the line, on hold again
            mark = log.mark()
        engine.router.set_operator_state(OPERATOR, "available")
        _, dial_end = log.wait(lambda e: e.get("Event") == "DialEnd" and e.get("Uniqueid") == uid,
                               after=mark, timeout=30, what="op101's phone to answer")
        assert dial_end["DialStatus"] == "ANSWER" and dial_end["DestChannel"].startswith(f"PJSIP/{OPERATOR}-")
        talking = threading.Thread(target=keys.say, args=(tone_alaw(CALLER_HZ, TALK),), daemon=True)
        talking.start()  # the citizen talks from the answer on
        deadline = time.monotonic() + 5
        while (legs := engine.call_life.legs.get(uid)) is None:
            assert time.monotonic() < deadline, "the AMI watcher kept no legs for the answered call"
            time.sleep(0.05)
        assert (legs.caller, legs.operator) == (trunk_channel, dial_end["DestChannel"])

        control = engine.live_controls["asterisk"]
        assert isinstance(control, AsteriskControl)
        # No MixMonitor runs on the operator's channel: Asterisk refuses, nothing changes.
        with pytest.raises(TelephonyFailed, match="Cannot set mute flag"):
            control.pause_recording(dataclasses.replace(legs, caller=legs.operator))
        pauses = RecordingPause(pauses=engine.recordings.pauses, controls=lambda: engine.controls,
                                clock=engine.clock)
        time.sleep(max(0.0, legs.since + PAUSE_AT - engine.clock()))
        assert pauses.pause(uid, by="oleg").paused
        time.sleep(PAUSED_FOR)
        assert not pauses.resume(uid, by="oleg").paused
        time.sleep(AFTER)
        world.ami.action("Hangup", Channel=trunk_channel)
        talking.join(timeout=TALK + 5)
        citizen.wait(30)
        phone.wait(30)
    finally:
        citizen.kill()
        phone.kill()
        if keys is not None:
            keys.close()

    # The call ended: its legs are gone, and Asterisk no longer knows the channel.
    deadline = time.monotonic() + 10
    while engine.call_life.legs.get(uid) is not None:
        assert time.monotonic() < deadline, "the legs outlived the call"
        time.sleep(0.1)
    with pytest.raises(CallNotLive):
        engine.controls.of(uid)
    with pytest.raises(CallNotLive, match="No such channel"):
        control.pause_recording(legs)

    store = engine.recordings.store
    deadline = time.monotonic() + 20
    while not (found := [m for m in store.list() if m.call_id == uid and m.kind == "operator"]):
        assert time.monotonic() < deadline, "the recording was not ingested"
        time.sleep(0.2)
    assert len(found) == 1, found
    audio = store.read_for(found[0].id, user="tier-test", role="auditor", reason="pause is silence")
    with wave.open(io.BytesIO(audio)) as wav:
        assert (wav.getframerate(), wav.getsampwidth(), wav.getnchannels()) == (8000, 2, 1)
        return Stored(trunk_channel, found[0], array.array("h", wav.readframes(wav.getnframes())))


def assert_silent_exactly_where_paused(stored: Stored) -> None:
    """One span, by the operator, about where and as long as it was; no sound inside it; both
    voices before and after it."""
    [span] = stored.meta.paused
    assert (span.paused_by, span.resumed_by) == ("oleg", "oleg")
    assert span.end is not None and span.resumed_at is not None
    assert PAUSE_AT - 0.5 < span.start < PAUSE_AT + 1.0
    assert PAUSED_FOR - 1.0 < span.end - span.start <= PAUSED_FOR + 0.5
    samples = stored.samples
    seconds = len(samples) / 8000
    assert seconds > PAUSE_AT + PAUSED_FOR + AFTER - 1.0, seconds

    paused = list(windows(samples, span.start + EDGE, span.end - EDGE))
    assert len(paused) >= 30
    loud = [(round(at, 1), audioop.rms(w.tobytes(), 2)) for at, w in paused if audioop.rms(w.tobytes(), 2) > 30]
    assert loud == [], f"sound inside the paused span {span}: {loud}"
    for part, (start, end) in {"before": (1.0, span.start - EDGE),
                               "after": (span.end + EDGE, min(seconds, span.end + AFTER) - 1.0)}.items():
        heard = list(windows(samples, start, end))
        assert len(heard) >= 15, (part, start, end)
        quiet = [(round(at, 1), round(level(w, CALLER_HZ)), round(level(w, OPERATOR_HZ))) for at, w in heard
                 if level(w, CALLER_HZ) < 1000 or level(w, OPERATOR_HZ) < 1000]
        assert quiet == [], f"{part} the pause, a voice is missing: {quiet}"


def test_the_paused_span_of_the_stored_recording_is_silence(world: World, tmp_path: Path) -> None:
    world.engine.router.set_operator_state(BUSY_OPERATOR, "offline")
    assert_silent_exactly_where_paused(call_pause_and_store(world, tmp_path))


def test_after_a_missed_operator_the_one_recording_is_paused_too(world: World, tmp_path: Path) -> None:
    """The citizen comes back to ``[operator-handover]`` after op102 missed the call: still one
    MixMonitor (one file), and the pause mutes it."""
    router = world.engine.router
    router.set_operator_state(OPERATOR, "offline")  # out of wrap-up: op102 is offered the call first
    stored = call_pause_and_store(world, tmp_path, missed_first=True)
    assert router.operator_status(BUSY_OPERATOR).state == "offline"  # "not ready: missed call"
    began = [line for line in world.asterisk.boot_log() if f"Begin MixMonitor Recording {stored.channel}" in line]
    assert len(began) == 1, began
    assert_silent_exactly_where_paused(stored)
