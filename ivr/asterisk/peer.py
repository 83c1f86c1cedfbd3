"""Asterisk's side of AGI, as recorded from a real Asterisk 22: for the softphone and tests.

:class:`AsteriskPeer` answers one command line with the reply lines Asterisk would
send (``tests/asterisk/transcripts/*.txt``); what the caller does (keys, speech,
hanging up) comes from a :class:`Caller`.  After a hang-up it behaves as a dead
channel does: ``200 result=-1`` then ``HANGUP``, and from then on
``511 Command Not Permitted on a dead channel or intercept routine`` to media
commands while ``EXEC``, ``GET/SET VARIABLE``, ``VERBOSE`` and ``NOOP`` still answer.
No sockets here except in :func:`dial`.
"""

from __future__ import annotations

import re
import socket
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Protocol

from ivr.asterisk.agi import DEAD_CHANNEL, INVALID_COMMAND

USAGE = {  # the 520 replies, verbatim (abridged bodies are Asterisk's own first lines)
    "STREAM FILE": [
        "520-Invalid command syntax.  Proper usage follows:",
        "Send the given file, allowing playback to be interrupted by the given digits, if any.",
        "520 End of proper usage.",
    ],
    "WAIT FOR DIGIT": [
        "520-Invalid command syntax.  Proper usage follows:",
        "Waits up to <replaceable>timeout</replaceable> milliseconds for channel to receive a DTMF digit.",
        "520 End of proper usage.",
    ],
}
GENERIC_USAGE = ["520-Invalid command syntax.  Proper usage follows:", "Usage.", "520 End of proper usage."]
VERBS = ("STREAM FILE", "WAIT FOR DIGIT", "GET DATA", "SAY DIGITS", "SAY NUMBER", "RECORD FILE",
         "SET VARIABLE", "GET VARIABLE", "GET FULL VARIABLE", "EXEC", "ANSWER", "HANGUP", "NOOP",
         "VERBOSE", "CHANNEL STATUS")
DEAD_REFUSED = {"STREAM FILE", "WAIT FOR DIGIT", "GET DATA", "SAY DIGITS", "SAY NUMBER",
                "RECORD FILE", "ANSWER", "CHANNEL STATUS", "HANGUP"}
APPS = {"Playback", "StartMusicOnHold", "StopMusicOnHold", "Wait", "Set", "MusicOnHold", "NoOp"}


class CallerHangsUp(Exception):
    """Raised by a :class:`Caller` to hang up during the current command."""


class Caller(Protocol):
    def hear(self, kind: str, what: str, escape: str) -> str | None:
        """A prompt plays (kind: file, digits, number); a key in ``escape`` to interrupt it."""

    def wait_key(self, ms: int) -> str | None:
        """Up to ``ms`` milliseconds to press a key; None: nothing pressed."""

    def speak(self, max_ms: int, escape: str) -> str | None:
        """The caller is recorded; a key in ``escape`` ends it, None: speech then silence."""

    def event(self, text: str) -> None:
        """Something else happened on the channel (music on hold, a variable set)."""


def split_args(line: str) -> list[str]:
    """Asterisk's argument parser: spaces split, double quotes group, backslash escapes."""
    args: list[str] = []
    cur, quoted, escaped, started = [], False, False, False
    for ch in line:
        if escaped:
            cur.append(ch)
            escaped = False
        elif ch == "\\":
            escaped, started = True, True
        elif ch == '"':
            quoted, started = not quoted, True
        elif ch in " \t" and not quoted:
            if started:
                args.append("".join(cur))
            cur, started = [], False
        else:
            cur.append(ch)
            started = True
    if started:
        args.append("".join(cur))
    return args


def env_block(env: Mapping[str, str]) -> bytes:
    """``agi_network: yes`` ... then the empty line, as Asterisk sends it."""
    return "".join(f"{k}: {v}\n" for k, v in env.items()).encode() + b"\n"


def default_env(*, caller: str, language: str = "ru", uniqueid: str = "1795312804.30",
                extension: str = "88005553535", script: str = "hotline", port: int = 4573) -> dict[str, str]:
    return {
        "agi_network": "yes", "agi_network_script": script,
        "agi_request": f"agi://127.0.0.1:{port}/{script}",
        "agi_channel": "PJSIP/trunk-00000001", "agi_language": language, "agi_type": "PJSIP",
        "agi_uniqueid": uniqueid, "agi_version": "22.10.1+dfsg+~cs6.17.60671434-1",
        "agi_callerid": caller, "agi_calleridname": "", "agi_callingpres": "0",
        "agi_callingani2": "0", "agi_callington": "0", "agi_callingtns": "0",
        "agi_dnid": extension, "agi_rdnis": "unknown", "agi_context": "hotline",
        "agi_extension": extension, "agi_priority": "2", "agi_enhanced": "0.0",
        "agi_accountcode": "", "agi_threadid": "140632465127104",
    }


class CallerGone:
    """The caller of a channel that has hung up: hears nothing, presses nothing."""

    def hear(self, kind: str, what: str, escape: str) -> str | None:
        raise CallerHangsUp

    def wait_key(self, ms: int) -> str | None:
        raise CallerHangsUp

    def speak(self, max_ms: int, escape: str) -> str | None:
        raise CallerHangsUp

    def event(self, text: str) -> None:
        pass


@dataclass
class AsteriskPeer:
    caller: Caller
    dead: bool = False
    env: Mapping[str, str] | None = None

    def __post_init__(self) -> None:
        env = self.env or {}
        self.variables: dict[str, str] = {
            "CALLERID(num)": env.get("agi_callerid", "79990000001"),
            "CHANNEL(language)": env.get("agi_language", "ru"),
        }
        self.commands: list[str] = []

    def reply(self, line: str) -> list[str]:
        self.commands.append(line)
        verb = next((v for v in VERBS if line == v or line.startswith(v + " ")), None)
        if verb is None:
            return [INVALID_COMMAND]
        args = split_args(line[len(verb):])
        if self.dead and verb in DEAD_REFUSED:
            return [DEAD_CHANNEL]
        try:
            return self._answer(verb, args)
        except CallerHangsUp:
            self.dead = True
            if verb == "STREAM FILE":
                return ["200 result=-1 endpos=16160", "HANGUP"]
            if verb == "RECORD FILE":
                return ["200 result=-1 (hangup) endpos=0", "HANGUP"]
            return ["200 result=-1", "HANGUP"]
        except IndexError:
            return USAGE.get(verb, GENERIC_USAGE)

    def _answer(self, verb: str, args: list[str]) -> list[str]:
        c = self.caller
        if verb == "STREAM FILE":
            key = _allowed(c.hear("file", args[0], args[1]), args[1])
            return [f"200 result={ord(key)} endpos=9760" if key else "200 result=0 endpos=8023"]
        if verb == "WAIT FOR DIGIT":
            key = c.wait_key(int(args[0]))
            return [f"200 result={ord(key)}" if key else "200 result=0"]
        if verb == "GET DATA":
            ms, most = (int(args[1]) if len(args) > 1 else 2000), (int(args[2]) if len(args) > 2 else 255)
            digits = _allowed(c.hear("file", args[0], "0123456789*#"), "0123456789*#") or ""
            while len(digits) < most and (key := c.wait_key(ms)) and key != "#":
                digits += key
            return [f"200 result={digits}" + ("" if len(digits) >= most else " (timeout)")]
        if verb in ("SAY DIGITS", "SAY NUMBER"):
            key = _allowed(c.hear("digits" if verb == "SAY DIGITS" else "number", args[0], args[1]), args[1])
            return [f"200 result={ord(key)}" if key else "200 result=0"]
        if verb == "RECORD FILE":
            escape, max_ms = args[2], int(args[3])
            key = _allowed(c.speak(max_ms, escape), escape)
            if key:
                return [f"200 result={ord(key)} (dtmf) endpos=0"]
            return [f"200 result={max(0, max_ms - 2700)} (timeout) endpos=8160"]
        if verb == "SET VARIABLE":
            self.variables[args[0]] = args[1]
            c.event(f"{args[0]}={args[1]}")
            return ["200 result=1"]
        if verb == "GET FULL VARIABLE":
            full = re.sub(r"\$\{([^}]*)\}", lambda m: self.variables.get(m[1], ""), args[0])
            return [f"200 result=1 ({full})"]
        if verb == "GET VARIABLE":
            value = self.variables.get(args[0])
            return [f"200 result=1 ({value})" if value is not None else "200 result=0"]
        if verb == "EXEC":
            if args[0] not in APPS:
                return ["200 result=-2"]
            if args[0] == "Playback" and len(args) > 1:  # "a&b&c[,options]": each heard, no key counts
                for name in args[1].partition(",")[0].split("&"):
                    c.hear("file", name, "")
                return ["200 result=0"]
            if args[0] == "Set" and len(args) > 1 and "=" in args[1]:
                name, _, value = args[1].partition("=")
                self.variables[name] = value
            c.event(" ".join(args))
            return ["200 result=0"]
        if verb == "HANGUP":
            self.dead = True
            c.event("hangup")
            return ["200 result=1", "HANGUP"]
        if verb == "CHANNEL STATUS":
            return ["200 result=6"]
        if verb == "VERBOSE":
            return ["200 result=1"]
        return ["200 result=0"]  # ANSWER, NOOP


def _allowed(key: str | None, escape: str) -> str | None:
    return key if key and key in escape else None


def dial(
    host: str, port: int, peer: AsteriskPeer, env: Mapping[str, str], *, timeout: float = 120.0,
    on_line: Callable[[str, str], None] | None = None,
) -> None:
    """Call the FastAGI server as Asterisk does; answer until the server closes the socket."""
    with socket.create_connection((host, port), timeout=timeout) as sock:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.sendall(env_block(env))
        reader = sock.makefile("rb")
        while True:
            raw = reader.readline()
            if not raw:
                return
            line = raw.decode("utf-8", "replace").rstrip("\r\n")
            if on_line:
                on_line(">>", line)
            lines = peer.reply(line)
            if on_line:
                for out in lines:
                    on_line("<<", out)
            sock.sendall("".join(f"{out}\n" for out in lines).encode())
