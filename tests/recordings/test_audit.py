from __future__ import annotations

import json
from pathlib import Path

import pytest

from ivr.recordings.audit import AuditLog, verify_chain
from ivr.recordings.errors import AuditChainBroken

from .conftest import Clock


def make(tmp_path: Path, n: int = 4) -> AuditLog:
    log = AuditLog(tmp_path / "a" / "audit.jsonl", clock=Clock())
    for i in range(n):
        log.record(actor=f"u{i}", role="supervisor", action="listen", recording="0" * 32, reason="r", outcome="allowed")
    return log


def test_chain_verifies_and_file_is_private(tmp_path: Path) -> None:
    log = make(tmp_path)
    assert verify_chain(log.path) == 4
    assert verify_chain(log.path, expected_head=log.head()) == 4
    assert oct(log.path.stat().st_mode & 0o777) == "0o600"
    assert [e["seq"] for e in log.entries()] == [1, 2, 3, 4]


def test_an_edited_line_is_detected(tmp_path: Path) -> None:
    log = make(tmp_path)
    lines = log.path.read_text().splitlines()
    entry = json.loads(lines[1])
    entry["actor"] = "nobody"  # hide who listened
    lines[1] = json.dumps(entry, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    log.path.write_text("\n".join(lines) + "\n")
    with pytest.raises(AuditChainBroken) as info:
        verify_chain(log.path)
    assert info.value.line == 3


def test_a_removed_line_is_detected(tmp_path: Path) -> None:
    log = make(tmp_path)
    lines = log.path.read_text().splitlines()
    del lines[1]
    log.path.write_text("\n".join(lines) + "\n")
    with pytest.raises(AuditChainBroken):
        verify_chain(log.path)


def test_a_cut_tail_is_detected_with_an_anchor(tmp_path: Path) -> None:
    log = make(tmp_path)
    head = log.head()
    lines = log.path.read_text().splitlines()
    log.path.write_text("\n".join(lines[:-1]) + "\n")
    assert verify_chain(log.path) == 3  # without an anchor the last line is not covered
    with pytest.raises(AuditChainBroken):
        verify_chain(log.path, expected_head=head)


def test_appends_continue_the_chain_across_instances(tmp_path: Path) -> None:
    log = make(tmp_path, 2)
    again = AuditLog(log.path, clock=Clock())
    again.record(actor="x", role="auditor", action="export", recording="1" * 32, reason="r", outcome="allowed")
    assert verify_chain(log.path) == 3
