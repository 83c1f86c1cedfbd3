"""Supervisors on live calls through the console: the routes, who may use them, the audit,
what the operator's page is told, and a call that ended refused.

The engine is real (real Redis, the console app); its Asterisk front end is the real
:class:`AsteriskControl` over a loopback AMI server (tests/asterisk/ami_double.py) that
answers as Asterisk 22 does; the legs are put by the one owner of a call's life, as AMI's
``DialEnd`` would (tests/integration/test_supervision_real.py does it all with Asterisk).
"""

from __future__ import annotations

import argparse
import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from werkzeug.security import generate_password_hash

from ivr.aftermenu import ConversationEnded, OperatorAnswered
from ivr.aftermenu.control import LiveCallError
from ivr.aftermenu.legs import Legs
from ivr.aftermenu.supervision import GONE_GRACE
from ivr.asterisk.ami import AmiClient
from ivr.asterisk.control import AsteriskControl
from ivr.asterisk.wiring import supervision_ended
from ivr.config import ConfigError
from ivr.config.load import load_config
from ivr.config.schema import UserConfig
from ivr.console.cli import users_command
from ivr.console.users import UserStore
from ivr.engine import Engine
from tests.asterisk.ami_double import AmiDouble
from tests.clock import ManualClock
from tests.console.conftest import PASSWORD, USERS, Console, place_call
from tests.console.test_operator import Stream

OPERATOR_CHANNEL = "PJSIP/op102-00000002"


@pytest.fixture(scope="session")
def user_hashes() -> dict[str, UserConfig]:
    """The console suite's users; sveta's phone is PJSIP/sup201, "ilya" is a supervisor without one."""
    digest = generate_password_hash(PASSWORD, method="pbkdf2:sha256:1000")
    users = {name: UserConfig(role=role, password_hash=digest, operator=op,  # type: ignore[arg-type]
                              phone="PJSIP/sup201" if name == "sveta" else None)
             for name, (role, op) in USERS.items()}
    users["ilya"] = UserConfig(role="supervisor", password_hash=digest)
    return users


@pytest.fixture()
def ami(engine: Engine) -> Iterator[AmiDouble]:
    double = AmiDouble()
    client = AmiClient(*double.address, username="ivr-engine", secret="s3cret", timeout=5)
    engine.live_controls["asterisk"] = AsteriskControl(ami=client)
    yield double
    client.close()
    double.close()


def bridged(engine: Engine, call_id: str = "call-1") -> Legs:
    """A call through the menu, taken by op102 (olga): its legs as AMI's DialEnd gives them."""
    engine.router.set_operator_state("op102", "available")
    place_call(engine, call_id)
    legs = Legs(call_id, "asterisk", "op102", caller="PJSIP/trunk-00000001", operator=OPERATOR_CHANNEL,
                since=engine.clock())
    engine.call_life.apply(OperatorAnswered(call_id, legs))
    return legs


def audit(engine: Engine) -> list[tuple[str, str, str, str, str]]:
    path = Path(engine.config.path(engine.config.console.audit_log))
    lines = [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []
    return [(x["actor"], x["action"], x["call"], x["outcome"], x.get("detail", "")) for x in lines
            if x["action"].startswith("supervise")]


def told(console: Console) -> dict[str, Any]:
    """What an operator's page is told of a supervisor on opening (its ``hello``)."""
    stream = Stream(console.get("/operator/events", buffered=False))
    try:
        kind, hello = stream.next()
        assert kind == "hello"
        supervisor: dict[str, Any] = hello["supervisor"]
        return supervisor
    finally:
        stream.close()


def test_listen_then_whisper_then_leave_each_audited_and_the_operator_told_only_of_the_whisper(
    app: Flask, engine: Engine, ami: AmiDouble, as_role: Any
) -> None:
    bridged(engine)
    sveta, olga = as_role("supervisor"), as_role("operator")
    assert told(olga) == {"mode": None}

    reply = sveta.post("/supervisor/api/supervise", {"call": "call-1", "mode": "listen"})
    assert reply.status_code == 200, reply.json
    assert reply.json["watch"]["mode"] == "listen" and reply.json["watch"]["operator"] == "op102"
    originate = ami.named("Originate")[-1]
    assert (originate["Channel"], originate["Data"]) == ("PJSIP/sup201", f"{OPERATOR_CHANNEL},quES")
    listening = originate["ChannelId"]
    assert told(olga) == {"mode": None}  # silent listening is not shown
    row = next(o for o in sveta.get("/supervisor/api/dashboard").json["operators"] if o["id"] == "op102")
    assert row["live"] is True and [(s["by"], s["mode"]) for s in row["supervisors"]] == [("sveta", "listen")]
    # the same button twice: nothing rings again
    assert sveta.post("/supervisor/api/supervise", {"call": "call-1", "mode": "listen"}).status_code == 200
    assert len(ami.named("Originate")) == 1

    reply = sveta.post("/supervisor/api/supervise", {"call": "call-1", "mode": "whisper"})
    assert reply.status_code == 200 and reply.json["watch"]["mode"] == "whisper"
    assert ami.named("Hangup")[-1]["Channel"] == listening  # switched: the first leg hung up
    assert ami.named("Originate")[-1]["Data"] == f"{OPERATOR_CHANNEL},quESw"
    shown = told(olga)
    assert (shown["mode"], shown["supervisor"], shown["call_id"]) == ("whisper", "sveta", "call-1")
    assert sveta.get("/supervisor/api/supervise").json["watch"]["mode"] == "whisper"

    assert sveta.post("/supervisor/api/supervise/stop").json["stopped"]["mode"] == "whisper"
    assert ami.named("Hangup")[-1]["Channel"] == ami.named("Originate")[-1]["ChannelId"]
    assert told(olga) == {"mode": None}
    assert sveta.get("/supervisor/api/supervise").json["watch"] is None

    lines = audit(engine)
    assert [line[:4] for line in lines] == [
        ("sveta", "supervise_start", "call-1", "allowed"), ("sveta", "supervise_end", "call-1", "done"),
        ("sveta", "supervise_start", "call-1", "allowed"), ("sveta", "supervise_end", "call-1", "done")]
    assert lines[0][4] == "mode=listen operator=op102 phone=PJSIP/sup201"
    assert lines[1][4].startswith("mode=listen reason=switched seconds=")
    assert lines[2][4] == "mode=whisper operator=op102 phone=PJSIP/sup201"
    assert lines[3][4].startswith("mode=whisper reason=stopped seconds=")


def test_barge_in_is_shown_to_the_operator(app: Flask, engine: Engine, ami: AmiDouble, as_role: Any) -> None:
    bridged(engine)
    sveta, olga = as_role("supervisor"), as_role("operator")
    assert sveta.post("/supervisor/api/supervise", {"call": "call-1", "mode": "barge"}).status_code == 200
    assert ami.named("Originate")[-1]["Data"] == f"{OPERATOR_CHANNEL},quESB"
    assert told(olga)["mode"] == "barge"


def test_a_call_that_ended_is_refused_clearly_and_nothing_rings(app: Flask, engine: Engine, ami: AmiDouble,
                                                                as_role: Any) -> None:
    bridged(engine)
    engine.call_life.apply(ConversationEnded("call-1"))
    sveta = as_role("supervisor")
    reply = sveta.post("/supervisor/api/supervise", {"call": "call-1", "mode": "listen"})
    assert reply.status_code == 410 and reply.json["error"] == "call_not_live"
    assert ami.named("Originate") == []
    assert audit(engine) == [("sveta", "supervise_start", "call-1", "refused", "mode=listen why=call_not_live")]


def test_the_operator_channel_gone_before_the_legs_is_refused_too(app: Flask, engine: Engine, ami: AmiDouble,
                                                                  as_role: Any) -> None:
    """The call hung up a moment ago; AMI's Hangup has not reached routing yet."""
    bridged(engine)
    ami.reply = lambda action: "No such channel" if action["Action"] == "Getvar" else None
    reply = as_role("supervisor").post("/supervisor/api/supervise", {"call": "call-1", "mode": "whisper"})
    assert reply.status_code == 410 and reply.json["error"] == "call_not_live"
    assert ami.named("Originate") == []
    assert [line[3] for line in audit(engine)] == ["allowed", "failed"]


def test_only_supervisors_may_join_and_only_with_a_phone(app: Flask, engine: Engine, ami: AmiDouble,
                                                        as_role: Any) -> None:
    bridged(engine)
    for role in ("operator", "auditor"):
        who = as_role(role)
        assert who.post("/supervisor/api/supervise", {"call": "call-1", "mode": "listen"}).status_code == 403
        assert who.post("/supervisor/api/supervise/stop").status_code == 403
    ilya = Console(app, "ilya")
    reply = ilya.post("/supervisor/api/supervise", {"call": "call-1", "mode": "listen"})
    assert reply.status_code == 409 and reply.json["error"] == "no_phone"
    reply = as_role("supervisor").post("/supervisor/api/supervise", {"call": "call-1", "mode": "shout"})
    assert reply.status_code == 400 and reply.json["error"] == "bad_mode"
    assert ami.named("Originate") == [] and audit(engine) == []


def test_the_telephony_ending_the_supervisor_leg_ends_the_supervision(app: Flask, engine: Engine,
                                                                      ami: AmiDouble, as_role: Any) -> None:
    """The call ended and ChanSpy exited (E), or the supervisor put the phone down: AMI's
    Hangup of the handle is the end, audited once (a later stop finds nothing)."""
    bridged(engine)
    sveta = as_role("supervisor")
    sveta.post("/supervisor/api/supervise", {"call": "call-1", "mode": "barge"})
    handle = ami.named("Originate")[-1]["ChannelId"]
    ended = supervision_ended(engine)
    ended(handle, "Normal Clearing")
    ended(handle, "Normal Clearing")  # told twice: audited once
    assert sveta.get("/supervisor/api/supervise").json["watch"] is None
    assert sveta.post("/supervisor/api/supervise/stop").json["stopped"] is None
    assert [line[1:4] for line in audit(engine)] == [("supervise_start", "call-1", "allowed"),
                                                     ("supervise_end", "call-1", "done")]
    assert audit(engine)[1][4].startswith("mode=barge reason=hung_up") and "cause=Normal Clearing" in audit(engine)[1][4]


def test_a_supervision_whose_call_ended_without_a_telephony_word_is_closed_when_looked_at(
    app: Flask, engine: Engine, ami: AmiDouble, as_role: Any, clock: ManualClock
) -> None:
    """Twilio tells nothing of a participant's leg: a look finds the legs gone and hides the
    watch at once, and the first look after the grace ends it."""
    bridged(engine)
    sveta = as_role("supervisor")
    sveta.post("/supervisor/api/supervise", {"call": "call-1", "mode": "whisper"})
    engine.call_life.apply(ConversationEnded("call-1"))
    row = next(o for o in sveta.get("/supervisor/api/dashboard").json["operators"] if o["id"] == "op102")
    assert row["supervisors"] == [] and row["live"] is False
    assert sveta.get("/supervisor/api/supervise").json["watch"] is None
    assert audit(engine)[-1][1] == "supervise_start"  # the telephony may still have its word
    clock.advance(GONE_GRACE)
    sveta.get("/supervisor/api/dashboard")
    assert audit(engine)[-1][1] == "supervise_end" and "reason=call_ended" in audit(engine)[-1][4]
    assert engine.redis.hlen("{" + engine.config.redis.prefix + "}:supervision:gone") == 0


def test_the_telephony_word_that_comes_a_moment_after_the_call_end_is_the_reason_audited(
    app: Flask, engine: Engine, ami: AmiDouble, as_role: Any, clock: ManualClock
) -> None:
    """The citizen hangs up: routing hears the call's Hangup, the dashboard polls, then AMI's
    Hangup of the supervisor's leg (ChanSpy exited) arrives.  The poll in between must not
    win: the audit says the leg hung up, as it would without the poll."""
    bridged(engine)
    sveta = as_role("supervisor")
    sveta.post("/supervisor/api/supervise", {"call": "call-1", "mode": "barge"})
    handle = ami.named("Originate")[-1]["ChannelId"]
    engine.call_life.apply(ConversationEnded("call-1"))
    assert sveta.get("/supervisor/api/supervise").json["watch"] is None
    clock.advance(GONE_GRACE / 2)
    assert sveta.get("/supervisor/api/dashboard").status_code == 200
    supervision_ended(engine)(handle, "Normal Clearing")
    clock.advance(GONE_GRACE)
    sveta.get("/supervisor/api/dashboard")
    ends = [line for line in audit(engine) if line[1] == "supervise_end"]
    assert len(ends) == 1 and ends[0][4].startswith("mode=barge reason=hung_up")


def test_starting_on_another_call_ends_the_one_that_ended_at_once(
    app: Flask, engine: Engine, ami: AmiDouble, as_role: Any
) -> None:
    """The supervisor moves on within the grace: the old call's end is audited, not lost."""
    bridged(engine)
    sveta = as_role("supervisor")
    sveta.post("/supervisor/api/supervise", {"call": "call-1", "mode": "listen"})
    engine.call_life.apply(ConversationEnded("call-1"))
    bridged(engine, "call-2")
    assert sveta.post("/supervisor/api/supervise", {"call": "call-2", "mode": "listen"}).status_code == 200
    assert [(line[1], line[2]) for line in audit(engine)] == [
        ("supervise_start", "call-1"), ("supervise_end", "call-1"), ("supervise_start", "call-2")]
    assert "reason=call_ended" in audit(engine)[1][4]


def test_a_supervisors_phone_is_set_with_ivr_users_add_and_only_for_supervisors(engine: Engine) -> None:
    out = io.StringIO()
    cfg = engine.config

    def add(name: str, role: str, phone: str | None) -> int:
        args = argparse.Namespace(users_command="add", name=name, role=role, operator=None, replace=False,
                                  phone=phone)
        return users_command(cfg, args, stdin=io.StringIO("a long enough secret\n"), out=out, redis=engine.redis)

    assert add("nina", "supervisor", "PJSIP/sup202") == 0
    store = UserStore(redis=engine.redis, prefix=cfg.redis.prefix, configured=cfg.users, operators=cfg.operators)
    assert store.get("nina").phone == "PJSIP/sup202"  # type: ignore[union-attr]
    assert add("ivan", "auditor", "PJSIP/sup203") == 1  # only supervisors have a phone
    assert add("lena", "supervisor", "PJSIP/sup203,quESB") == 1  # would change ChanSpy's arguments
    assert store.get("ivan") is None and store.get("lena") is None
    assert add("tanya", "supervisor", "+74950000000") == 0  # behind Twilio: a number
    users_command(cfg, argparse.Namespace(users_command="list"), out=out, redis=engine.redis)
    assert "nina\tsupervisor phone=PJSIP/sup202\t(redis)" in out.getvalue()


def test_a_phone_in_config_yaml_is_for_supervisors_only(tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"
    path.write_text((Path(__file__).resolve().parents[2] / "config.yaml").read_text().replace(
        "users: {}", "users:\n  oleg: {role: operator, operator: op101, password_hash: x, phone: PJSIP/sup201}\n"
                     "  sveta: {role: supervisor, password_hash: x, phone: PJSIP/sup201}"))
    with pytest.raises(ConfigError, match="only supervisors have a phone") as refused:
        load_config(path)
    assert "oleg" in str(refused.value) and "sveta" not in str(refused.value)


def test_a_start_while_another_is_under_way_is_refused_and_nothing_rings_twice(
    app: Flask, engine: Engine, ami: AmiDouble, as_role: Any
) -> None:
    bridged(engine)
    busy = "{" + engine.config.redis.prefix + "}:supervision:busy:sveta"
    engine.redis.set(busy, "1", ex=15)  # the first click's request, still waiting for AMI
    reply = as_role("supervisor").post("/supervisor/api/supervise", {"call": "call-1", "mode": "listen"})
    assert reply.status_code == 409 and reply.json["error"] == "busy"
    assert ami.named("Originate") == [] and engine.redis.get(busy) == b"1"
    engine.redis.delete(busy)
    assert as_role("supervisor").post("/supervisor/api/supervise", {"call": "call-1", "mode": "listen"}).status_code == 200
    assert engine.redis.get(busy) is None and len(ami.named("Originate")) == 1


class _Refusing(AsteriskControl):
    """A front end that refuses as Twilio's does while another action on the call is under way."""

    def spy(self, legs: Legs, supervisor_endpoint: str, mode: Any) -> str:
        raise LiveCallError("another action on this call is under way")


def test_a_telephony_refusal_is_shown_as_such_not_as_a_failure(app: Flask, engine: Engine, ami: AmiDouble,
                                                                as_role: Any) -> None:
    bridged(engine)
    engine.live_controls["asterisk"] = _Refusing(ami=engine.live_controls["asterisk"].ami)  # type: ignore[attr-defined]
    reply = as_role("supervisor").post("/supervisor/api/supervise", {"call": "call-1", "mode": "listen"})
    assert reply.status_code == 409 and reply.json["error"] == "refused"
    assert "under way" in reply.json["message"]
    assert [line[3:] for line in audit(engine)] == [("allowed", "mode=listen operator=op102 phone=PJSIP/sup201"),
                                                    ("failed", "mode=listen why=refused")]


def test_the_hang_up_of_a_leg_the_console_stops_is_audited_with_the_stops_reason(
        app: Flask, engine: Engine, as_role: Any) -> None:
    """AMI's Hangup of the listening leg, as Asterisk reports it when the supervisor switches
    to whisper, may be handled before the switch closes the watch (the AMI reader's thread):
    it is the switch's, audited "switched" before the next start, not a "hung_up" of its own
    (the real tier once audited the whisper's start before the listen's end)."""
    bridged(engine)
    ended = supervision_ended(engine)

    def reply(action: dict[str, str]) -> str | None:
        if action.get("Action") == "Hangup":
            ended(action["Channel"], "Normal Clearing")  # the event before the response
        return None

    double = AmiDouble(reply=reply)
    client = AmiClient(*double.address, username="ivr-engine", secret="s3cret", timeout=5)
    engine.live_controls["asterisk"] = AsteriskControl(ami=client)
    try:
        sveta = as_role("supervisor")
        assert sveta.post("/supervisor/api/supervise", {"call": "call-1", "mode": "listen"}).status_code == 200
        assert sveta.post("/supervisor/api/supervise", {"call": "call-1", "mode": "whisper"}).status_code == 200
        assert sveta.post("/supervisor/api/supervise/stop").json["stopped"]["mode"] == "whisper"
    finally:
        client.close()
        double.close()
    lines = audit(engine)
    assert [line[1] for line in lines] == ["supervise_start", "supervise_end", "supervise_start", "supervise_end"]
    assert lines[1][4].startswith("mode=listen reason=switched")
    assert lines[3][4].startswith("mode=whisper reason=stopped")
