"""The caller's spoken name on the operator's screen: played from the encrypted store once the
call's end has stored it (before that, from the plaintext clip), only by the operator the call
is assigned to, every attempt in the recordings audit; without a key it is not kept at all."""

from __future__ import annotations

import json
import os
from pathlib import Path

from flask import Flask

from ivr.call import CallRunner
from ivr.console.users import UserStore
from ivr.engine import Engine
from ivr.flow import events as e
from tests.console.conftest import Console, login, place_call

NAME = b"RIFF\x00\x10\x00\x00WAVEfmt " + os.urandom(3000)


def clip_dir(engine: Engine) -> Path:
    return Path(engine.config.path(engine.config.recordings.clip_dir or ""))


def rec_audit(engine: Engine) -> list[tuple[str, str, str, str]]:
    path = Path(engine.config.path(engine.config.recordings.audit_log))
    lines = [json.loads(x) for x in path.read_text().splitlines()] if path.exists() else []
    return [(x["actor"], x["role"], x["recording"], x["outcome"]) for x in lines]


def console_audit(engine: Engine) -> list[tuple[str, str, str]]:
    path = Path(engine.config.path(engine.config.console.audit_log))
    lines = [json.loads(x) for x in path.read_text().splitlines()] if path.exists() else []
    return [(x["actor"], x["action"], x["outcome"]) for x in lines if x["action"] == "listen_name_clip"]


def connect_call(engine: Engine, runner: CallRunner) -> None:
    """The caller on hold hears the operator is ready: Connect, the menu's end of the call."""
    runner.handle(e.NoInput(engine.clock() + 9))
    assert runner.done and runner.state is not None and runner.state.context.outcome == "connected"


def test_no_play_button_for_a_name_the_front_end_left_no_file_of(keyed: tuple[Engine, Flask]) -> None:
    """The menu noted a clip, but nothing is there to play (a softphone's caller records no
    file): the pop offers no button that could only say "not available"."""
    engine, app = keyed
    clips = clip_dir(engine)
    place_call(engine, "call-7", name=None, clip=str(clips / "call-7-ask_name"))
    engine.router.set_operator_state("op102", "available")
    engine.router.assign()
    olga = Console(app, "olga")
    assert olga.get("/operator/api/calls/call-7").json["name"]["clip"] is False
    (clips / "call-7-ask_name.wav").write_bytes(NAME)  # as Asterisk's RECORD FILE leaves it
    assert olga.get("/operator/api/calls/call-7").json["name"]["clip"] is True


def test_the_play_button_comes_to_the_open_pop_once_the_name_can_be_played(keyed: tuple[Engine, Flask]) -> None:
    """Behind Twilio the name's recording is stored a few seconds after the call is assigned:
    the operator's open pop gets the button then (a "name" event), without a reload."""
    from tests.console.test_operator import Stream

    engine, app = keyed
    clips = clip_dir(engine)
    place_call(engine, "call-8", name=None, clip=str(clips / "call-8-ask_name"))
    engine.router.set_operator_state("op102", "available")
    engine.router.assign()
    stream = Stream(Console(app, "olga").get("/operator/events", buffered=False))
    try:
        kind, hello = stream.next()
        assert kind == "hello" and hello["pop"]["call_id"] == "call-8" and hello["pop"]["name"]["clip"] is False
        (clips / "call-8-ask_name.wav").write_bytes(NAME)  # the name arrives
        assert stream.next(within=5) == ("name", {"call_id": "call-8", "clip": True})
    finally:
        stream.close()


def test_a_pop_looks_for_its_name_for_a_minute_at_most(keyed: tuple[Engine, Flask]) -> None:
    """A front end that leaves no file here (the call's end stores the name): the operator's
    stream stops asking after NAME_WAIT, not every second for the whole conversation."""
    from ivr.console.operator import NAME_WAIT, NameOnPop

    engine, app = keyed
    clips = clip_dir(engine)
    place_call(engine, "call-9", name=None, clip=str(clips / "call-9-ask_name"))
    engine.router.set_operator_state("op102", "available")
    engine.router.assign()
    pops = app.extensions["ivr.console.operator"].pops
    now = [0.0]
    watch = NameOnPop(pops, "op102", clock=lambda: now[0])
    watch.shown(pops.pop(pops.active("call-9")))
    assert list(watch.changed()) == [] and watch.waiting == "call-9"  # nothing to play yet: looking
    now[0] += NAME_WAIT + 1
    (clips / "call-9-ask_name.wav").write_bytes(NAME)
    assert list(watch.changed()) == [] and watch.waiting is None


def test_the_assigned_operator_plays_the_name_first_from_the_clip_then_from_the_store(
    keyed: tuple[Engine, Flask]
) -> None:
    engine, app = keyed
    clips = clip_dir(engine)
    (clips / "call-5-ask_name.wav").write_bytes(NAME)
    (clips / "call-5-main.wav").write_bytes(b"RIFF keyword")
    runner = place_call(engine, "call-5", name=None, clip=str(clips / "call-5-ask_name"))  # speech off: recorded
    engine.router.set_operator_state("op102", "available")  # the caller holds in the engine meanwhile
    engine.router.assign()  # the engine's tick reserves op102 for the call on hold
    olga = Console(app, "olga")
    assert olga.get("/operator/api/calls/call-5").json["name"] == {
        "text": None, "confidence": None, "recognised": False, "clip": True, "clip_note": None}  # nothing tried
    early = olga.get("/operator/calls/call-5/name-clip")  # still in the menu: the plaintext clip
    assert early.status_code == 200 and early.data == NAME and early.headers["Cache-Control"] == "no-store"

    connect_call(engine, runner)
    assert sorted(p.name for p in clips.iterdir()) == []  # no plaintext outlives the call
    rid = engine.recordings.clips.name_recording("call-5")
    assert rid is not None and engine.recordings.store.meta(rid).kind == "name"
    played = olga.get("/operator/calls/call-5/name-clip")
    assert played.status_code == 200 and played.data == NAME and played.mimetype == "audio/wav"
    assert played.headers["Content-Length"] == str(len(NAME)) and played.headers["Cache-Control"] == "no-store"

    oleg = Console(app, "oleg")  # op101: not his call
    refused = oleg.get("/operator/calls/call-5/name-clip")
    assert refused.status_code == 403 and refused.json["error"] == "not_your_call"
    assert rec_audit(engine) == [
        ("olga", "operator", "clip:call-5-ask_name.wav", "allowed"),
        ("olga", "operator", rid, "allowed"),
        ("oleg", "operator", rid, "refused"),
    ]
    assert console_audit(engine) == [("olga", "listen_name_clip", "allowed"), ("olga", "listen_name_clip", "allowed"),
                                     ("oleg", "listen_name_clip", "refused")]
    # the store's general door stays shut to operators: not even the auditor's route
    assert olga.get(f"/auditor/recordings/{rid}/audio?grant=x").status_code == 403


def test_only_the_clip_directory_is_read_and_never_through_a_symlink(keyed: tuple[Engine, Flask],
                                                                     tmp_path: Path) -> None:
    engine, app = keyed
    clips = clip_dir(engine)
    (tmp_path / "secret.wav").write_bytes(b"RIFF secret")
    engine.router.set_operator_state("op103", "available")
    place_call(engine, "call-6", topic_key="6", name=None, clip=str(clips / ".." / "secret"))  # benefits: op103
    engine.router.set_operator_state("op102", "available")
    (clips / "call-7-ask_name.wav").symlink_to(tmp_path / "secret.wav")
    place_call(engine, "call-7", name=None, clip=str(clips / "call-7-ask_name"))
    cfg = engine.config
    UserStore(redis=engine.redis, prefix=cfg.redis.prefix, configured=cfg.users, operators=cfg.operators).add(
        "petr", role="operator", operator="op103", password="a long enough secret")
    pete = app.test_client()
    assert login(pete, "petr", "a long enough secret").status_code == 302
    assert pete.get("/operator/calls/call-6/name-clip").status_code == 404  # outside the clip directory
    olga = Console(app, "olga")
    assert olga.get("/operator/calls/call-7/name-clip").status_code == 404  # a symlink
    assert b"secret" not in olga.get("/operator/calls/call-7/name-clip").data
    assert console_audit(engine) == [("petr", "listen_name_clip", "failed"), ("olga", "listen_name_clip", "failed"),
                                     ("olga", "listen_name_clip", "failed")]


def test_without_a_key_the_name_is_not_kept_and_the_screen_says_so(app: Flask, engine: Engine) -> None:
    engine.router.set_operator_state("op102", "available")
    clips = clip_dir(engine)
    (clips / "call-8-ask_name.wav").write_bytes(NAME)
    runner = place_call(engine, "call-8", name=None, clip=str(clips / "call-8-ask_name"))
    olga = Console(app, "olga")
    assert olga.get("/operator/api/calls/call-8").json["name"]["clip_note"] == "no_key"
    response = olga.get("/operator/calls/call-8/name-clip")
    assert response.status_code == 404 and response.json["error"] == "no_key"
    assert "нет ключа записи" in response.json["message"]
    connect_call(engine, runner)
    assert list(clips.iterdir()) == []  # destroyed at the call's end, with its deletion-log line
    deleted = Path(engine.config.path(engine.config.recordings.deletion_log)).read_text()
    assert "clip:call-8-ask_name.wav" in deleted and "no recording key" in deleted
    page = olga.get("/operator").get_data(as_text=True)
    assert 'id="pop-clip-note"' in page


def test_a_callbacks_operator_joins_the_calls_records_and_its_stored_name(keyed: tuple[Engine, Flask]) -> None:
    """Seen: the auditor's list named no operator for a callback's call ("—"), though op102
    talked to the citizen: the call's records were written when the menu's call ended, before
    anyone took the callback.  The conversation's recording is ingested by that record."""
    import dataclasses

    from ivr.aftermenu import CallbackAnswered

    engine, _app = keyed
    clips = clip_dir(engine)
    (clips / "call-cb-ask_name.wav").write_bytes(NAME)
    runner = place_call(engine, "call-cb", name=None, clip=str(clips / "call-cb-ask_name"))
    engine.router.request_callback("call-cb", "+79990000001")
    assert runner.state is not None
    engine.call_ended(dataclasses.replace(runner.state.context, outcome="callback"), engine.clock())  # hung up
    rid = engine.recordings.clips.name_recording("call-cb")
    assert rid is not None and engine.recordings.store.index.get(rid).operator is None  # type: ignore[union-attr]

    engine.router.set_operator_state("op102", "available")
    [due] = engine.router.due_callbacks()
    engine.call_life.apply(CallbackAnswered(due.callback_id or ""))
    assert engine.recordings.consent_log.get("call-cb").operator == "op102"  # type: ignore[union-attr]
    assert engine.recordings.store.index.get(rid).operator == "op102"  # type: ignore[union-attr]
