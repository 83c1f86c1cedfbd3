"""Read the recorded AGI transcripts in tests/asterisk/transcripts/ (see README there)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

TRANSCRIPT_DIR = Path(__file__).resolve().parents[1] / "asterisk" / "transcripts"
_ENDPOS = re.compile(r"endpos=\d+")
_RECORD_RESULT = re.compile(r"result=\d+ \(timeout\)")


@dataclass(frozen=True)
class Transcript:
    env: dict[str, str]
    exchange: list[str]  # "<< ..." / ">> ..." lines after the env block, in order
    notes: list[str]  # "# ..." lines, without the "# "


def parse_transcript(text: str) -> Transcript:
    env: dict[str, str] = {}
    exchange: list[str] = []
    notes: list[str] = []
    in_env = True
    for line in text.splitlines():
        if line.startswith("# "):
            notes.append(line[2:])
        elif in_env and line.startswith("<< "):
            if line == "<< ":
                in_env = False
            else:
                key, _, value = line[3:].partition(": ")
                env[key] = value
        elif line.startswith(("<< ", ">> ")):
            exchange.append(line)
    return Transcript(env, exchange, notes)


def load_transcript(name: str) -> Transcript:
    return parse_transcript((TRANSCRIPT_DIR / f"{name}.txt").read_text())


def normalise(lines: list[str]) -> list[str]:
    """Mask values that depend on timing (endpos, RECORD FILE's leftover-ms result)."""
    return [_RECORD_RESULT.sub("result=<ms> (timeout)", _ENDPOS.sub("endpos=<n>", line))
            for line in lines]
