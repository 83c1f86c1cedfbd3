"""The softphone line's wire: one line of text each way, UTF-8, ``\\n`` at the end.

::

    engine -> softphone   RING cb-1796588334.25047001 19     a callback rings (seconds it rings)
                          MISSED 1796588334.25047001 op101   the operator this call was handed to
                                                              did not answer: it is back at the
                                                              head of its line (the softphone
                                                              dials in again, ``resume``; no reply)
                          ANSWERED 1796588334.25047001 op101  that operator answered: the
                                                              conversation is on (no reply)
    softphone -> engine   HANGUP                              (to MISSED) not my call in progress:
                                                              the caller hung up while it rang
    softphone -> engine   ANSWER                              the citizen answered
                          REJECT                              declined (routing retries later)
                          BUSY                                in another call (the same)
    either -> the other   HANGUP                              the conversation is over

A softphone that does not answer within the seconds said, or a closed connection, is no
answer.  Nothing here opens a socket.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping
from dataclasses import dataclass

PORT = re.compile(r"[0-9]{1,5}")
ENV_KEY = "agi_softphone_line"  # the AGI environment line an ``ivr call`` softphone adds
# The line every ``ivr call`` softphone adds, with a line or without: a terminal carries no
# audio of the conversation after the menu, so nothing can record it.
TERMINAL_KEY = "agi_softphone"
VERBS = ("RING", "MISSED", "ANSWERED", "ANSWER", "REJECT", "BUSY", "HANGUP")
MAX_LINE = 256


class LineError(ValueError):
    """A line that is not the softphone line's wire."""

    def __init__(self, line: str, why: str) -> None:
        super().__init__(f"{why}: {line[:80]!r}")
        self.line = line
        self.why = why


@dataclass(frozen=True)
class Message:
    verb: str
    callback_id: str = ""
    seconds: int = 0
    call_id: str = ""  # MISSED / ANSWERED: the call, and the operator who did not answer / did
    operator: str = ""


def ring(callback_id: str, seconds: int) -> bytes:
    return f"RING {callback_id} {seconds}\n".encode()


def missed(call_id: str, operator: str) -> bytes:
    return f"MISSED {call_id} {operator}\n".encode()


def answered(call_id: str, operator: str) -> bytes:
    return f"ANSWERED {call_id} {operator}\n".encode()


def say(verb: str) -> bytes:
    if verb not in VERBS or verb in ("RING", "MISSED", "ANSWERED"):
        raise LineError(verb, "not a reply")
    return f"{verb}\n".encode()


def parse(raw: bytes | str) -> Message:
    """``RING cb-1.2 19`` -> Message("RING", "cb-1.2", 19); ``MISSED 1.2 op101`` ->
    Message("MISSED", call_id="1.2", operator="op101"); ``ANSWER`` -> Message("ANSWER")."""
    line = (raw.decode("utf-8", "replace") if isinstance(raw, bytes) else raw).rstrip("\r\n")
    if len(line) > MAX_LINE:
        raise LineError(line, "too long")
    parts = line.split()
    if not parts or parts[0] not in VERBS:
        raise LineError(line, "unknown verb")
    if parts[0] in ("MISSED", "ANSWERED"):
        if len(parts) != 3:
            raise LineError(line, f"{parts[0]} <call id> <operator>")
        return Message(parts[0], call_id=parts[1], operator=parts[2])
    if parts[0] != "RING":
        if len(parts) != 1:
            raise LineError(line, "no arguments expected")
        return Message(parts[0])
    if len(parts) != 3 or not parts[2].isdigit():
        raise LineError(line, "RING <callback id> <seconds>")
    return Message("RING", parts[1], int(parts[2]))


def from_terminal(env: Mapping[str, str]) -> bool:
    """The call comes from an ``ivr call`` terminal softphone (no recorder on its line)."""
    return TERMINAL_KEY in env


def contact_of(env: Mapping[str, str]) -> tuple[str, int] | None:
    """Where the calling softphone answers (``agi_softphone_line: 127.0.0.1:45678``), or None:
    not a softphone, or not on loopback (the engine rings nothing else)."""
    host, sep, port = env.get(ENV_KEY, "").rpartition(":")
    # ASCII digits only: str.isdigit() also takes "²" (int() then raised and the call failed)
    # and "٣٣" (read as port 33, which nobody sent)
    if not sep or not PORT.fullmatch(port) or not 0 < int(port) < 65536:
        return None
    try:
        if not ipaddress.ip_address(host.strip("[]")).is_loopback:
            return None
    except ValueError:
        return None
    return host.strip("[]"), int(port)
