"""The operator pauses and resumes the recording from the screen-pop: a real engine with a
recording key on a real Redis, the Flask app, and the engine's AsteriskControl over a real
AMI client to a loopback AMI that answers MixMonitorMute as Asterisk 22 does (the real
Asterisk: tests/integration/test_recording_pause_asterisk.py).

What each test shows: the mute reaches AMI on the caller's channel (both directions) and the
paused span ends up in the stored recording's metadata and the auditor's list; the audit
says who paused and resumed, and when; every refusal (not recorded, call over or not yet
answered, a double click, AMI failing, another operator's call) is said and leaves the
recording as it was.
"""

from __future__ import annotations

import base64
import dataclasses
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask

from ivr.aftermenu import ConversationEnded, OperatorAnswered
from ivr.aftermenu.legs import Legs
from ivr.call import CallRunner
from ivr.config import Config, Secrets
from ivr.engine import Engine, build_engine
from ivr.flow import events as e
from ivr.recordings.meta import PausedSpan
from ivr.recordings.spool import SpoolIngest
from ivr.web.app import create_app
from routing.redis_conn import connect
from tests.console.conftest import INN, Clock, Console, console_config, place_call
from tests.console.mute_ami import MuteAmi, asterisk_control

TRUNK = "PJSIP/trunk-0000002a"  # the caller's channel: MixMonitor runs on it
CALL = "1773824400.42"  # a call id is the caller's channel's UNIQUEID


@pytest.fixture()
def ami(keyed: tuple[Engine, Flask]) -> Iterator[MuteAmi]:
    server = MuteAmi()
    client = asterisk_control(keyed[0], server, timeout=1.0)
    yield server
    client.close()
    server.close()


def audit(engine: Engine) -> list[tuple[str, str, str, str]]:
    path = Path(engine.config.path(engine.config.console.audit_log))
    lines = [json.loads(x) for x in path.read_text().splitlines()] if path.exists() else []
    return [(x["actor"], x["action"], x["outcome"], x.get("detail", "")) for x in lines
            if x["action"].endswith("_recording")]


def answered(engine: Engine, call_id: str) -> Legs:
    """op102's phone answered: what the AMI watcher does on ``DialEnd ANSWER``."""
    legs = Legs(call_id, "asterisk", "op102", caller=TRUNK, operator="PJSIP/op102-0000002b", since=engine.clock())
    engine.call_life.apply(OperatorAnswered(call_id, legs))
    return legs


def live_call(engine: Engine, call_id: str) -> Legs:
    engine.router.set_operator_state("op102", "available")
    place_call(engine, call_id)  # payments, consent given: op102 (olga)
    return answered(engine, call_id)


def pause(who: Console, call_id: str, what: str = "pause") -> Any:
    return who.post(f"/operator/api/calls/{call_id}/recording/{what}")


def test_pause_and_resume_mute_the_callers_channel_and_the_stored_recording_keeps_the_span(
        keyed: tuple[Engine, Flask], ami: MuteAmi, clock: Clock, tmp_path: Path) -> None:
    engine, app = keyed
    legs = live_call(engine, CALL)
    olga = Console(app, "olga")
    pop = olga.get(f"/operator/api/calls/{CALL}").json
    assert (pop["recording"], pop["recording_paused"]) == ("recording", False)

    clock.advance(5)
    paused = pause(olga, CALL)
    assert paused.status_code == 200, paused.json
    assert paused.json["paused"] is True and paused.json["by"] == "olga"
    assert ami.mutes() == [(TRUNK, "both", "1")]
    assert olga.get(f"/operator/api/calls/{CALL}").json["recording_paused"] is True  # a reload shows it
    clock.advance(7)
    resumed = pause(olga, CALL, "resume")
    assert resumed.status_code == 200 and resumed.json["paused"] is False
    assert ami.mutes() == [(TRUNK, "both", "1"), (TRUNK, "both", "0")]
    lines = [json.loads(x) for x in Path(engine.config.path(engine.config.console.audit_log)).read_text().splitlines()]
    said = [(x["actor"], x["action"], x["outcome"], x["call"], x["at"]) for x in lines if x["action"].endswith("_recording")]
    assert [s[:4] for s in said] == [("olga", "pause_recording", "allowed", CALL),
                                     ("olga", "resume_recording", "allowed", CALL)]
    assert said[0][4] < said[1][4]  # when: ISO times, 7 s apart

    # The conversation ends; MixMonitor's file (named by the call id, Asterisk's UNIQUEID) is
    # taken in by the spool scan, with the span.
    engine.call_life.apply(ConversationEnded(CALL))
    spool = tmp_path / "monitor"
    spool.mkdir()
    (spool / f"{CALL}.wav").write_bytes(b"RIFF" + os.urandom(4000))
    (spool / f"{CALL}.wav.done").touch()
    rec = engine.recordings
    scan = SpoolIngest(spool_dir=spool, store=rec.store, consent_log=rec.consent_log,
                       deletion_log=rec.purger.deletion_log, clock=clock, pauses=rec.pauses).scan()
    [rid] = scan.ingested
    expected = PausedSpan(start=5.0, end=12.0, paused_at=legs.since + 5, resumed_at=legs.since + 12,
                          paused_by="olga", resumed_by="olga")
    assert rec.store.meta(rid).paused == (expected,)

    anton = Console(app, "anton")
    [row] = [r for r in anton.get("/auditor/api/recordings").json["recordings"] if r["id"] == rid]
    assert row["paused"] == [{"start": 5.0, "end": 12.0, "paused_at": legs.since + 5,
                              "resumed_at": legs.since + 12, "paused_by": "olga", "resumed_by": "olga"}]


def test_a_double_click_pauses_once_and_resumes_once(keyed: tuple[Engine, Flask], ami: MuteAmi) -> None:
    engine, app = keyed
    live_call(engine, "call-p2")
    olga = Console(app, "olga")
    assert pause(olga, "call-p2").status_code == 200
    again = pause(olga, "call-p2")
    assert again.status_code == 409 and again.json["error"] == "already_paused"
    assert pause(olga, "call-p2", "resume").status_code == 200
    again = pause(olga, "call-p2", "resume")
    assert again.status_code == 409 and again.json["error"] == "not_paused"
    assert [m[2] for m in ami.mutes()] == ["1", "0"]
    assert audit(engine) == [("olga", "pause_recording", "allowed", ""),
                             ("olga", "pause_recording", "refused", "already paused"),
                             ("olga", "resume_recording", "allowed", ""),
                             ("olga", "resume_recording", "refused", "not paused")]


def test_a_pause_under_way_refuses_another(keyed: tuple[Engine, Flask], ami: MuteAmi) -> None:
    """Two clicks at once (two tabs): the second finds the first one's claim."""
    engine, app = keyed
    live_call(engine, "call-p3")
    engine.recordings.pauses.move("call-p3", "begin_pause", started=engine.clock())
    busy = pause(Console(app, "olga"), "call-p3")
    assert busy.status_code == 409 and busy.json["error"] == "pause_busy"
    assert ami.mutes() == []


def test_ami_failing_leaves_the_recording_as_it_was_and_the_page_says_so(
        keyed: tuple[Engine, Flask], ami: MuteAmi) -> None:
    engine, app = keyed
    live_call(engine, "call-p4")
    olga = Console(app, "olga")
    ami.answer = "silent"  # no answer: the AMI client's timeout
    failed = pause(olga, "call-p4")
    assert failed.status_code == 502 and failed.json["error"] == "pause_failed"
    assert "запись идёт" in failed.json["message"]
    assert engine.recordings.pauses.state("call-p4").state == "recording"
    assert olga.get("/operator/api/calls/call-p4").json["recording_paused"] is False

    ami.answer = "success"
    assert pause(olga, "call-p4").status_code == 200
    ami.answer = "no_mixmonitor"  # Response: Error / Message: Cannot set mute flag
    failed = pause(olga, "call-p4", "resume")
    assert failed.status_code == 502 and failed.json["error"] == "resume_failed"
    assert "остаётся приостановленной" in failed.json["message"]
    assert engine.recordings.pauses.state("call-p4").paused
    assert olga.get("/operator/api/calls/call-p4").json["recording_paused"] is True
    outcomes = [(a, o) for _, a, o, _ in audit(engine)]
    assert outcomes == [("pause_recording", "allowed"), ("pause_recording", "failed"),
                        ("pause_recording", "allowed"),
                        ("resume_recording", "allowed"), ("resume_recording", "failed")]
    assert "Cannot set mute flag" in audit(engine)[-1][3]


def test_a_call_that_just_ended_is_refused(keyed: tuple[Engine, Flask], ami: MuteAmi) -> None:
    engine, app = keyed
    olga = Console(app, "olga")
    live_call(engine, "call-p5")
    ami.answer = "no_channel"  # the caller hung up as the operator clicked
    gone = pause(olga, "call-p5")
    assert gone.status_code == 410 and gone.json["error"] == "call_over"
    assert engine.recordings.pauses.state("call-p5").state == "recording"
    engine.call_life.apply(ConversationEnded("call-p5"))  # then the Hangup event
    over = pause(olga, "call-p5")
    assert over.status_code == 410 and over.json["error"] == "call_over"
    assert [m[0] for m in ami.mutes()] == [TRUNK]  # nothing asked of AMI once the call is over
    assert [(a, o, d) for _, a, o, d in audit(engine)] == [
        ("pause_recording", "allowed", ""),
        ("pause_recording", "failed", f"call over: MixMonitorMute: {TRUNK}: No such channel"),
        ("pause_recording", "refused", "call over")]


def test_a_ringing_call_and_another_operators_call_are_refused(keyed: tuple[Engine, Flask], ami: MuteAmi) -> None:
    engine, app = keyed
    engine.router.set_operator_state("op102", "available")
    place_call(engine, "call-p6")  # reserved for op102: the phone rings
    ringing = pause(Console(app, "olga"), "call-p6")
    assert ringing.status_code == 409 and ringing.json["error"] == "not_connected"
    answered(engine, "call-p6")
    theirs = pause(Console(app, "oleg"), "call-p6")  # op101
    assert theirs.status_code == 403 and theirs.json["error"] == "not_your_call"
    assert ami.mutes() == []
    assert [(who, o) for who, _, o, _ in audit(engine)] == [("olga", "refused"), ("oleg", "refused")]


def refusing_caller(engine: Engine, call_id: str) -> None:
    """A caller who says "no" to recording (payments): routed to op102 all the same."""
    at = engine.clock()
    runner = CallRunner(menu=engine.menus.get("hotline"), services=engine.services(), clock=engine.clock)
    runner.start(e.CallStarted(call_id, "+79990000001", "88005553535", at, appeal=runner.services.allocate_appeal(),
                               speech=False, recording=engine.recordings.enabled))
    for key in ("1", None, INN + "#", "1", "4", "2"):  # Russian, no name, ИНН, верно, payments, no
        runner.handle(e.Recorded("name", at) if key is None else e.DigitsEntered(key, at))


def test_a_call_without_consent_shows_no_pause_and_refuses_one(keyed: tuple[Engine, Flask], ami: MuteAmi) -> None:
    engine, app = keyed
    engine.router.set_operator_state("op102", "available")
    refusing_caller(engine, "call-p7")
    answered(engine, "call-p7")
    olga = Console(app, "olga")
    pop = olga.get("/operator/api/calls/call-p7").json
    assert (pop["recording"], pop["recording_paused"]) == ("no_consent", False)
    refused = pause(olga, "call-p7")
    assert refused.status_code == 409 and refused.json["error"] == "not_recorded"
    assert ami.mutes() == []
    assert audit(engine) == [("olga", "pause_recording", "refused", "not recorded")]


# -- the same button on a Twilio call (the front end behind engine.controls changes, nothing else)


def test_on_a_twilio_call_the_button_pauses_twilios_recording(config: Config, tmp_path: Path, redis_server: Any,
                                                               user_hashes: Any) -> None:
    from tests.twilio.test_engine_app import PUBLIC, SID, T0, TOKEN, post, walk_to_queue
    from tests.twilio.test_live_control import ACCOUNT, API, HOTLINE, LEG, FakeTwilio

    (tmp_path / "clips").mkdir()
    base = console_config(config, tmp_path, user_hashes)
    config = dataclasses.replace(
        base, engine=dataclasses.replace(base.engine, public_url=PUBLIC),
        twilio=dataclasses.replace(base.twilio, account_sid=ACCOUNT, caller_id=HOTLINE),
        operators={op: dataclasses.replace(spec, endpoint=f"client:{op}") for op, spec in base.operators.items()})
    key = "k1:" + base64.b64encode(os.urandom(32)).decode()
    engine = build_engine(config, Secrets(secret_key="k", twilio_auth_token=TOKEN, recording_key=key),
                          redis=connect(redis_server.url, embedded_dir=str(tmp_path)), clock=lambda: T0)
    twilio = FakeTwilio()
    app = create_app(engine, twilio_http_client=twilio)
    app.testing = True
    twilio.app_client = client = app.test_client()
    walk_to_queue(client)
    engine.router.set_operator_state("op102", "available")
    engine.tick()  # routing reserves op102; the engine bridges the caller with the REST API
    answered = post(client, "/twilio/operator-leg?operator=op102",
                    {"CallSid": LEG, "ParentCallSid": SID, "CallStatus": "in-progress", "AccountSid": ACCOUNT})
    assert answered.status_code == 204
    twilio.sent.clear()

    olga = Console(app, "olga")
    assert olga.get(f"/operator/api/calls/{SID}").json["recording"] == "recording"
    assert pause(olga, SID).json["paused"] is True
    assert pause(olga, SID, "resume").json["paused"] is False
    current = f"{API}/Calls/{SID}/Recordings/Twilio.CURRENT.json"
    assert [(s.method, s.url, s.data) for s in twilio.sent] == [
        ("POST", current, {"Status": "paused", "PauseBehavior": "silence"}),
        ("POST", current, {"Status": "in-progress"})]
    assert [(s.start, s.end, s.paused_by, s.resumed_by) for s in engine.recordings.pauses.spans(SID)] == [
        (0.0, 0.0, "olga", "olga")]  # the test's clock stands still

    # Another action on the call under way (Twilio's own lease): said, nothing sent, as it was.
    control = engine.live_controls["twilio"]
    with control.live.action(SID, 5) as held:  # type: ignore[attr-defined]
        assert held
        busy = pause(olga, SID)
    assert busy.status_code == 409 and busy.json["error"] == "pause_busy"
    assert len(twilio.sent) == 2 and not engine.recordings.pauses.state(SID).paused
    assert [(a, o) for _, a, o, _ in audit(engine)][-2:] == [("pause_recording", "allowed"),
                                                            ("pause_recording", "failed")]
