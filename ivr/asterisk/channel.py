"""One FastAGI call's AGI commands: typed, over pyst2, on the event loop.

This is the only module that turns pyst2's character results into values:
``stream_file() == ''`` becomes ``None`` (played to the end), ``record_file() == '\\x00'``
becomes ``Recording(ended="timeout")``, and so on (see :mod:`ivr.asterisk.pyst`).
Each command is formatted by pyst2 (its dry run), sent, its reply read line by line
from the :class:`~ivr.asterisk.connection.AgiConnection` under a deadline (the
command's own time plus ``reply_grace``), then parsed by pyst2 (the replay).  A peer
that stalls is dropped with :class:`~ivr.asterisk.agi.AgiProtocolError` at its own
deadline; it never blocks another call.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from asterisk.agi import AGIAppError, AGIError

from ivr.asterisk.agi import (
    AgiCommandFailed,
    AgiError,
    AgiProtocolError,
    AgiReply,
    EnvReader,
)
from ivr.asterisk.connection import AgiConnection
from ivr.asterisk.pyst import HANGUP_FOLLOWS, HotlineAgi, after_failure

log = logging.getLogger(__name__)
ESCAPE_ALL = "0123456789*#"
Trace = Callable[[str, str], None]  # (">>" or "<<", line)


@dataclass(frozen=True)
class Recording:
    """How a RECORD FILE ended: ``200 result=35 (dtmf) endpos=0`` -> ended="dtmf", key="#"."""

    ended: Literal["dtmf", "timeout", "silence"]
    key: str = ""
    endpos: int | None = None


async def read_env(conn: AgiConnection, *, timeout: float, trace: Trace | None = None) -> dict[str, str]:
    """The environment block, whole within ``timeout`` seconds (a slow drip is dropped too)."""
    deadline = asyncio.get_running_loop().time() + timeout
    reader = EnvReader()
    while True:
        line = await conn.read_line(deadline)
        if trace is not None:
            trace("<<", line)
        if reader.feed(line):
            return reader.env


class AgiChannel:
    """The engine's side of one FastAGI connection (Asterisk is the peer)."""

    def __init__(
        self,
        conn: AgiConnection,
        env: dict[str, str],
        *,
        reply_grace: float = 30.0,
        trace: Trace | None = None,
    ) -> None:
        self.conn = conn
        self.env = env
        self.reply_grace = reply_grace  # seconds a reply may take beyond the command's own time
        self._trace = trace
        self.agi = HotlineAgi(env=env, on_line=trace)
        self._loop = asyncio.get_running_loop()

    async def _run(self, seconds: float, method: Callable[..., Any], *args: Any) -> Any:
        """One command through pyst2: dry run, send, read the reply, replay."""
        try:
            line = self.agi.command_line(method, *args)
            self.conn.write(line)
            reply = await self._read_reply(self._loop.time() + seconds + self.reply_grace)
            return self.agi.replay(method, args, line, reply)
        except AgiError:
            raise
        except (AGIAppError, AGIError) as exc:  # pyst2's own checks (e.g. EXEC result=-2)
            raise AgiCommandFailed(str(exc), self.agi.last_reply) from None
        except (OSError, ValueError) as exc:
            raise AgiProtocolError(f"the connection failed: {exc}") from None

    async def _read_reply(self, deadline: float) -> AgiReply:
        replies = self.agi.replies
        while True:
            line = await self.conn.read_line(deadline)
            if self._trace is not None:
                self._trace("<<", line)
            try:
                reply = replies.feed(line)
            except AgiCommandFailed as failed:
                # "200 result=-1" then, at once, "HANGUP" when the caller hung up; nothing
                # follows when the command just failed (a missing file).
                if await self.conn.line_within(HANGUP_FOLLOWS):
                    line = await self.conn.read_line(deadline)
                    if self._trace is not None:
                        self._trace("<<", line)
                    raise after_failure(failed, line) from None
                raise
            if reply is not None:
                return reply

    @property
    def hung_up(self) -> bool:
        return self.agi.replies.hangup_seen

    # -- typed commands ------------------------------------------------------------------

    async def answer(self) -> None:
        await self._run(0, self.agi.answer)

    async def stream_file(self, path: str, escape: str = "", *, expect: float = 60.0) -> str | None:
        """Play a file; the key that interrupted it, or None (played, or the file is missing).

        ``200 result=0 endpos=8023`` -> None; ``200 result=53 endpos=9760`` -> "5";
        ``200 result=-1 endpos=0`` with no HANGUP (missing file) -> None, logged.
        """
        try:
            key = await self._run(expect, self.agi.stream_file, path, escape)
        except AgiCommandFailed:
            log.warning("prompt %s could not be played", path)
            return None
        return str(key) or None

    async def playback(self, paths: Sequence[str], *, expect: float) -> None:
        """Play files one after another, no key interrupting: ``EXEC Playback a&b&c`` (one command).

        ``200 result=0`` when they played or one was missing (Asterisk skips it);
        ``200 result=-1`` then ``HANGUP`` when the caller hung up meanwhile (AgiHangup).
        """
        if any("&" in path or "," in path for path in paths):
            raise ValueError("a prompt path cannot contain '&' or ','")
        await self.exec("Playback", "&".join(paths), expect=expect)

    async def wait_for_digit(self, ms: int) -> str | None:
        """``200 result=55`` -> "7"; ``200 result=0`` (timeout) -> None."""
        key = await self._run(ms / 1000, self.agi.wait_for_digit, ms)
        return str(key) or None

    async def say_digits(self, digits: str, escape: str = "") -> str | None:
        key = await self._run(len(digits) + 5, self.agi.say_digits, digits, escape)
        return str(key) or None

    async def say_number(self, number: int, escape: str = "") -> str | None:
        key = await self._run(10, self.agi.say_number, number, escape)
        return str(key) or None

    async def record_file(
        self, path: str, *, fmt: str = "wav", escape: str = "#", max_seconds: float, silence: float = 2.0
    ) -> Recording:
        """Record the caller.  pyst2 returns ``chr(result)``; the reply tells how it ended:

        ``200 result=35 (dtmf) endpos=0``      -> Recording("dtmf", "#")
        ``200 result=0 (timeout) endpos=0``    -> Recording("timeout")  (pyst2: '\\x00')
        ``200 result=5329 (timeout) endpos=8160`` -> Recording("silence") (pyst2: chr(5329))
        """
        ms = int(max_seconds * 1000)
        await self._run(max_seconds, self.agi.record_file, path, fmt, escape, ms, 0, "BEEP", int(silence))
        reply = self.agi.last_reply
        assert reply is not None
        if reply.data == "dtmf":
            return Recording("dtmf", reply.key, reply.endpos)
        number = reply.number or 0
        return Recording("silence" if number > 0 else "timeout", "", reply.endpos)

    async def set_variable(self, name: str, value: str) -> None:
        await self._run(0, self.agi.set_variable, name, value)

    async def exec(self, application: str, options: str = "", *, expect: float = 10.0) -> str:
        """``EXEC StartMusicOnHold default`` -> "0"; ``200 result=-2`` (no such app) raises."""
        return str(await self._run(expect, self.agi.appexec, application, options))

    async def hangup(self) -> None:
        await self._run(0, self.agi.hangup)

    def close(self) -> None:
        """Close the connection: Asterisk never closes a FastAGI socket itself."""
        self.conn.close()
