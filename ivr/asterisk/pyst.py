"""pyst2 as the AGI command layer, with its defects worked around deliberately.

The product asks for pyst2 (``asterisk.agi``).  Its command methods (``stream_file``,
``wait_for_digit``, ``say_digits``, ``record_file``, ``set_variable``, ``appexec``,
``hangup``...) are kept; what surrounds them is replaced here.  Defects, each seen
against a real Asterisk 22 and shown by a test in ``tests/asterisk/test_pyst_defects.py``:

1. ``asterisk.fastagi`` is Python 2 only (``import SocketServer``): not used; our own
   server (:mod:`ivr.asterisk.server`) accepts the connections.
2. ``AGI.__init__`` installs a SIGHUP handler: ``signal.signal`` raises ValueError
   off the main thread, i.e. in every FastAGI call thread.  It also writes ``ARGS:``,
   ``ENV LINE:`` ... to stderr for every call.  Replaced: no signal, no stderr spam,
   the environment parsed by :class:`ivr.asterisk.agi.EnvReader`.
3. Its output must be a text stream (``stdout.write(str)``): we give it a text wrapper
   over the socket.
4. A hang-up during a command is answered ``200 result=-1`` and then a separate
   ``HANGUP`` line.  pyst2 raises AGIAppError for the first (the same as any failure)
   and then, on the next command, reads ``HANGUP`` as that command's result and
   fails with ``ValueError: invalid literal for int()``.  ``get_result`` is replaced
   by :class:`ivr.asterisk.agi.ReplyReader`: ``HANGUP`` lines are noted wherever they
   come, ``511`` and ``520-`` multi-line replies are read whole, over-long lines refused.
5. ``_quote`` wraps in double quotes without escaping: a value with ``"`` breaks the
   command.  Replaced by an escaping quote.
6. Results come back as characters: ``record_file()`` returns ``'\\x00'`` on timeout
   (and ``chr(5329)`` when silence ended the recording: Asterisk puts the milliseconds
   left in ``result``), ``stream_file()`` returns ``''`` when not interrupted.  The typed
   adapter (:mod:`ivr.asterisk.channel`) turns these into ``str | None`` and
   :class:`~ivr.asterisk.channel.Recording`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

from asterisk.agi import AGI

from ivr.asterisk.agi import (
    HANGUP_LINE,
    AgiCommandFailed,
    AgiHangup,
    AgiProtocolError,
    AgiReply,
    ReplyReader,
)

HANGUP_FOLLOWS = 0.25  # seconds to wait for HANGUP after "200 result=-1" (it comes at once)


class _TextOut(Protocol):
    def write(self, text: str, /) -> int: ...

    def flush(self) -> None: ...



class _NoStderr:
    def write(self, text: str) -> int:
        return len(text)

    def flush(self) -> None:
        pass


class HotlineAgi(AGI):  # type: ignore[misc]  # pyst2 has no type hints
    """pyst2's AGI on one FastAGI connection, without its process-wide side effects."""

    def __init__(
        self,
        *,
        read_line: Callable[[], str],
        line_within: Callable[[float], bool],
        writer: _TextOut,
        env: dict[str, str],
        on_line: Callable[[str, str], None] | None = None,
    ) -> None:
        # Deliberately no super().__init__(): it installs a SIGHUP handler (ValueError off
        # the main thread), logs to stderr and reads the environment from sys.stdin.
        self.stdin = None  # never read directly: see get_result
        self.stdout = writer
        self.stderr = _NoStderr()
        self._got_sighup = False
        self.env = env
        self._read_line = read_line
        self._line_within = line_within
        self._on_line = on_line
        self.replies = ReplyReader()
        self.last_reply: AgiReply | None = None

    def _quote(self, string: Any) -> str:
        text = str(string)
        if "\n" in text or "\r" in text or "\x00" in text:
            raise ValueError("an AGI argument cannot contain a line break or NUL")
        return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'

    def send_command(self, command: str, *args: Any) -> None:
        line = " ".join([command.strip(), *map(str, args)]).strip()
        if "\n" in line or "\r" in line:
            raise ValueError("an AGI command is one line")
        if self._on_line is not None:
            self._on_line(">>", line)
        self.stdout.write(line + "\n")
        self.stdout.flush()

    def get_result(self, stdin: Any = None) -> dict[str, tuple[str, str]]:
        """Read one reply; return it in pyst2's shape so its command methods work."""
        reply: AgiReply | None = None
        while reply is None:
            line = self._read_line()
            if self._on_line is not None:
                self._on_line("<<", line)
            try:
                reply = self.replies.feed(line)
            except AgiCommandFailed as failed:
                # "200 result=-1" then, at once, "HANGUP" when the caller hung up; nothing
                # follows when the command just failed (a missing file).
                if self._line_within(HANGUP_FOLLOWS):
                    line = self._read_line()
                    if self._on_line is not None:
                        self._on_line("<<", line)
                    if line == HANGUP_LINE:
                        raise AgiHangup("the caller hung up", failed.reply) from None
                    raise AgiProtocolError(f"unexpected line after a reply: {line[:80]!r}") from None
                raise
        self.last_reply = reply
        if self.replies.hangup_seen:  # e.g. HANGUP while idle, then "200 result=0" to NOOP
            raise AgiHangup("the caller hung up", reply)
        result: dict[str, tuple[str, str]] = {"result": (reply.result, reply.data)}
        for key, value in reply.extra.items():
            result[key] = (value, "")
        return result

    def test_hangup(self) -> None:
        if self.replies.hangup_seen:
            raise AgiHangup("the caller hung up")

