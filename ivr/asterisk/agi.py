"""The AGI wire protocol without any I/O: the environment block, replies, commands.

Every format below was seen on the wire from a real Asterisk 22 (the transcripts in
``tests/asterisk/transcripts/``).  A FastAGI connection opens with the environment
block, ``key: value`` lines ended by an empty line::

    agi_network: yes
    agi_request: agi://127.0.0.1:4573/hotline
    agi_channel: PJSIP/trunk-00000001
    agi_language: ru
    agi_uniqueid: 1795312804.30
    agi_callerid: 79990000001
    agi_extension: 88005553535
    agi_accountcode: \\x20                 (a key with an empty value keeps its space)

Then the engine sends one command line at a time and Asterisk answers with a reply:

    ``200 result=0``                       success
    ``200 result=53 endpos=9760``          STREAM FILE interrupted by key 5 (ASCII 53)
    ``200 result= (timeout)``              GET DATA, nothing pressed
    ``200 result=1 (menu 1)``              GET VARIABLE, value in parentheses
    ``200 result=35 (dtmf) endpos=0``      RECORD FILE ended by '#'
    ``200 result=5329 (timeout) endpos=8160``  RECORD FILE ended by silence (ms left!)
    ``200 result=-1 endpos=0``             STREAM FILE of a missing file (the call lives on)
    ``200 result=-1``                      the caller hung up during the command...
    ``HANGUP``                             ...and, as its own line, the hang-up notice
    ``510 Invalid or unknown command``
    ``511 Command Not Permitted on a dead channel or intercept routine``
    ``520-Invalid command syntax.  Proper usage follows:`` ... ``520 End of proper usage.``

``HANGUP`` arrives once, asynchronously: right after a ``200 result=-1``, or while the
engine is between commands (it is then read before the next reply).  Asterisk never
closes the socket itself (unless AGIEXITONHANGUP is set): the server must.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field

MAX_LINE = 8192  # longest line accepted from the peer, in characters (a 520 usage line is ~450)
MAX_ENV_LINES = 200
HANGUP_LINE = "HANGUP"
DEAD_CHANNEL = "511 Command Not Permitted on a dead channel or intercept routine"
INVALID_COMMAND = "510 Invalid or unknown command"


# -- the exception tree ------------------------------------------------------------------


class AgiError(Exception):
    """Something went wrong on an AGI connection; ``reply`` is the parsed reply, if any."""

    def __init__(self, message: str, reply: AgiReply | None = None) -> None:
        super().__init__(message)
        self.reply = reply


class AgiHangup(AgiError):
    """The caller hung up: ``HANGUP`` was read (with or after ``200 result=-1``)."""


class AgiDeadChannel(AgiError):
    """``511 Command Not Permitted on a dead channel or intercept routine``."""


class AgiInvalidCommand(AgiError):
    """``510 Invalid or unknown command``."""


class AgiUsage(AgiError):
    """``520-Invalid command syntax.  Proper usage follows:`` ... ``520 End of proper usage.``"""


class AgiCommandFailed(AgiError):
    """``200 result=-1`` with no hang-up notice (a missing sound file, a failed application)."""


class AgiProtocolError(AgiError):
    """A line Asterisk would never send: malformed, over-long, or the peer vanished."""


# -- replies -----------------------------------------------------------------------------


# A number on the wire: ASCII digits (``\d`` and ``str.isdigit`` also take "٣" and "²"; a
# peer's ``endpos=²`` raised in the call), at most 18 of them.
_WHOLE = re.compile(r"-?[0-9]{1,18}")


@dataclass(frozen=True)
class AgiReply:
    """One reply: ``code``, ``result`` (text, may be empty), ``data`` in parentheses, extras."""

    code: int
    result: str = ""
    data: str = ""
    extra: Mapping[str, str] = field(default_factory=dict)  # endpos=..., etc.
    lines: tuple[str, ...] = ()  # the raw lines, for logs and usage text

    @property
    def endpos(self) -> int | None:
        value = self.extra.get("endpos")
        return int(value) if value is not None and _WHOLE.fullmatch(value) else None

    @property
    def number(self) -> int | None:
        """The result as an integer, None when empty (``200 result= (timeout)``)."""
        return int(self.result) if _WHOLE.fullmatch(self.result) else None

    @property
    def key(self) -> str:
        """A DTMF key from an ASCII result (``result=53`` -> ``"5"``); "" for 0 or none."""
        n = self.number
        if n is None or n <= 0 or chr(n) not in DTMF_KEYS:
            return ""
        return chr(n)


DTMF_KEYS = "0123456789*#ABCD"
_SUCCESS = re.compile(r"^200 result=(?P<result>\S*)(?: \((?P<data>.*?)\))?(?P<extra>(?: [\w-]+=\S*)*)$")
_FINAL = re.compile(r"^(\d{3})(?: (.*))?$")


def parse_success(line: str) -> AgiReply:
    """``200 result=1 (menu 1)`` -> ``AgiReply(200, "1", "menu 1")``."""
    m = _SUCCESS.match(line)
    if m is None:
        raise AgiProtocolError(f"malformed reply line: {line[:80]!r}")
    extra = dict(part.split("=", 1) for part in m["extra"].split())
    return AgiReply(200, m["result"], m["data"] or "", extra, (line,))


class ReplyReader:
    """Assembles one reply from lines; remembers a ``HANGUP`` notice seen on the way.

    Feed lines with :meth:`feed`; it returns the finished :class:`AgiReply`, or None
    while more lines are needed (``HANGUP`` notices, the body of a ``520-`` reply).
    Error replies raise their exception from the tree above.
    """

    def __init__(self) -> None:
        self.hangup_seen = False
        self._usage: list[str] = []

    def feed(self, line: str) -> AgiReply | None:
        if len(line) > MAX_LINE:
            raise AgiProtocolError(f"line longer than {MAX_LINE} characters")
        if self._usage:
            self._usage.append(line)
            if line.startswith("520 "):
                lines, self._usage = tuple(self._usage), []
                raise AgiUsage("\n".join(lines), AgiReply(520, lines=lines))
            if len(self._usage) > 200:
                raise AgiProtocolError("520 usage reply never ended")
            return None
        if line == HANGUP_LINE:
            self.hangup_seen = True
            return None
        if line.startswith("520-"):
            self._usage = [line]
            return None
        if line.startswith("200 "):
            reply = parse_success(line)
            if reply.result == "-1":
                cls = AgiHangup if self.hangup_seen else AgiCommandFailed
                raise cls(line, reply)
            return reply
        m = _FINAL.match(line)
        if m is None:
            raise AgiProtocolError(f"malformed reply line: {line[:80]!r}")
        reply = AgiReply(int(m[1]), data=m[2] or "", lines=(line,))
        if reply.code == 511:
            raise (AgiHangup if self.hangup_seen else AgiDeadChannel)(line, reply)
        if reply.code == 510:
            raise AgiInvalidCommand(line, reply)
        if reply.code == 520:
            raise AgiUsage(line, reply)
        raise AgiProtocolError(f"unexpected reply code: {line[:80]!r}", reply)


# -- the environment block -----------------------------------------------------------------


def parse_env_line(line: str) -> tuple[str, str]:
    """``agi_callerid: 79990000001`` -> ``("agi_callerid", "79990000001")``."""
    key, sep, value = line.partition(":")
    if not sep or not re.fullmatch(r"agi_\w+", key.strip()):
        raise AgiProtocolError(f"malformed environment line: {line[:80]!r}")
    return key.strip(), value.strip()


class EnvReader:
    """Collects the environment block; :meth:`feed` returns True at its empty last line."""

    def __init__(self) -> None:
        self.env: dict[str, str] = {}

    def feed(self, line: str) -> bool:
        if len(line) > MAX_LINE:
            raise AgiProtocolError(f"line longer than {MAX_LINE} characters")
        if line == "":
            if not self.env:
                raise AgiProtocolError("empty environment block")
            return True
        if len(self.env) >= MAX_ENV_LINES:
            raise AgiProtocolError("environment block too long")
        key, value = parse_env_line(line)
        self.env[key] = value
        return False


def parse_env(lines: list[str]) -> dict[str, str]:
    reader = EnvReader()
    for line in lines:
        if reader.feed(line):
            return reader.env
    raise AgiProtocolError("environment block not finished")


# -- commands ---------------------------------------------------------------------------

_BARE = re.compile(r"^[^\s\"\\]+$")


def quote(arg: str | float) -> str:
    """An argument as Asterisk's parser reads it: bare when safe, else in double quotes.

    ``quote("menu 1")`` -> ``"menu 1"``; ``quote('say "hi"')`` -> ``"say \\"hi\\""``;
    ``quote("")`` -> ``""``.  Line breaks cannot be sent at all.
    """
    text = str(arg)
    if "\n" in text or "\r" in text or "\x00" in text:
        raise ValueError("an AGI argument cannot contain a line break or NUL")
    if _BARE.match(text):
        return text
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def format_command(verb: str, *args: str | float) -> str:
    """``format_command("SET VARIABLE", "IVR_STEP", "menu 1")`` -> ``SET VARIABLE IVR_STEP "menu 1"``."""
    return " ".join([verb, *(quote(a) for a in args)])
