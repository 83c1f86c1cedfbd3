"""What a caller hears over FastAGI, with the fake Asterisk on loopback TCP (issue 17:
the chosen language, music on hold, a skipped name)."""

from __future__ import annotations

from conftest import Harness
from fake_asterisk import FakeCall, ScriptedCaller


def commands(call: FakeCall) -> list[str]:
    return [line[3:] for line in call.transcript if line.startswith(">> ")]


def test_a_name_skipped_with_hash_leaves_no_name_clip(harness: Harness) -> None:
    # '#' at the name: Asterisk answers "200 result=35 (dtmf) endpos=0" (a 44-byte file)
    call = FakeCall(caller=ScriptedCaller("1" + "#" + "0" + "1", name_key="#")).run(harness.address)
    assert any(c.startswith("RECORD FILE ") for c in commands(call))
    assert "<< 200 result=35 (dtmf) endpos=0" in call.transcript
    harness.wait_idle()
    ctx = harness.world.ended["1795312804.30"]
    assert ctx.name is None
    assert [(s.exit, s.detail) for s in ctx.path if s.node == "ask_name"] == [("key", "skipped")]


def test_a_spoken_name_is_kept_as_a_clip(harness: Harness) -> None:
    call = FakeCall(caller=ScriptedCaller("1" + "#" + "0" + "1")).run(harness.address)
    assert call.closed_by_server
    harness.wait_idle()
    ctx = harness.world.ended["1795312804.30"]
    assert ctx.name is not None and ctx.name.clip and ctx.name.clip.endswith("-ask_name")
