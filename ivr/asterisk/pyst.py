"""pyst2 as the AGI command layer, with its defects worked around deliberately.

The product asks for pyst2 (``asterisk.agi``).  Its command methods (``stream_file``,
``wait_for_digit``, ``say_digits``, ``record_file``, ``set_variable``, ``appexec``,
``hangup``...) are kept; what surrounds them is replaced here.  Defects, each seen
against a real Asterisk 22 and shown by a test in ``tests/asterisk/test_pyst_defects.py``:

1. ``asterisk.fastagi`` is Python 2 only (``import SocketServer``): not used; our own
   server (:mod:`ivr.asterisk.server`) accepts the connections.
2. ``AGI.__init__`` installs a SIGHUP handler: ``signal.signal`` raises ValueError
   off the main thread (the server's event loop runs in its own thread).  It also writes
   ``ARGS:``, ``ENV LINE:`` ... to stderr for every call.  Replaced: no signal, no stderr
   spam, the environment parsed by :class:`ivr.asterisk.agi.EnvReader`.
3. Its I/O is blocking: a command method is ``send_command`` + ``get_result`` (a
   ``readline``) + turning the result into a value, all in one synchronous call.  See
   "Two passes" below for how it runs on an event loop without a thread per call.
4. A hang-up during a command is answered ``200 result=-1`` and then a separate
   ``HANGUP`` line.  pyst2 raises AGIAppError for the first (the same as any failure)
   and then, on the next command, reads ``HANGUP`` as that command's result and
   fails with ``ValueError: invalid literal for int()``.  ``get_result`` is replaced:
   replies are assembled by :class:`ivr.asterisk.agi.ReplyReader`: ``HANGUP`` lines are
   noted wherever they come, ``511`` and ``520-`` multi-line replies are read whole,
   over-long lines refused.
5. ``_quote`` wraps in double quotes without escaping: a value with ``"`` breaks the
   command.  Replaced by an escaping quote.
6. Results come back as characters: ``record_file()`` returns ``'\\x00'`` on timeout
   (and ``chr(5329)`` when silence ended the recording: Asterisk puts the milliseconds
   left in ``result``), ``stream_file()`` returns ``''`` when not interrupted.  The typed
   adapter (:mod:`ivr.asterisk.channel`) turns these into ``str | None`` and
   :class:`~ivr.asterisk.channel.Recording`.

Two passes (how the event loop uses pyst2): a coroutine cannot suspend inside pyst2's
synchronous ``stream_file()`` between the command and its reply (that needs a thread,
or greenlets).  pyst2's command methods are pure functions of their arguments and the
reply, so each command is run through pyst2 twice, in memory:

* :meth:`HotlineAgi.command_line` -- the *dry run*: pyst2 formats the command and
  ``send_command`` appends it to an in-memory outbox; its ``get_result`` then raises
  :class:`ReplyPending` (a BaseException: no ``except`` in pyst2 swallows it) and the
  formatted line is returned for the loop to send.
* :meth:`HotlineAgi.replay` -- once the loop has received the whole reply: the same
  method runs again, ``send_command`` only checks that it formats the same line, and
  ``get_result`` hands pyst2 the reply already read, so pyst2 parses it its own way
  (``chr(53)`` -> ``'5'``, ``EXEC`` ``-2`` -> AGIAppError...).

Only methods that send one command can run this way (all the media adapter uses); one
that sends more (``goto_on_exit``) is refused on its replay, when its second line
differs from the first.  Nothing in pyst2 catches ReplyPending: the methods used
catch only pyst2's own exceptions, and around the result, not around ``execute``.

Built with ``read_line=`` instead, the adapter reads replies itself, blocking, one
line at a time (the tests use it to put our reading beside raw pyst2's).
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


class ReplyPending(BaseException):
    """The dry run reached ``get_result``: the command is formatted, its reply not read yet."""


class _TextOut(Protocol):
    def write(self, text: str, /) -> int: ...

    def flush(self) -> None: ...


class _Outbox:
    """The text stream pyst2 writes commands to, in memory: the loop sends them."""

    def __init__(self) -> None:
        self.lines: list[str] = []

    def write(self, text: str) -> int:
        self.lines.append(text)
        return len(text)

    def flush(self) -> None:
        pass


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
        env: dict[str, str],
        read_line: Callable[[], str] | None = None,
        line_within: Callable[[float], bool] | None = None,
        writer: _TextOut | None = None,
        on_line: Callable[[str, str], None] | None = None,
    ) -> None:
        # Deliberately no super().__init__(): it installs a SIGHUP handler (ValueError off
        # the main thread), logs to stderr and reads the environment from sys.stdin.
        self.stdin = None  # never read directly: see get_result
        self._outbox = _Outbox()
        self.stdout = writer if writer is not None else self._outbox
        self.stderr = _NoStderr()
        self._got_sighup = False
        self.env = env
        self._read_line = read_line
        self._line_within = line_within or (lambda seconds: False)
        self._on_line = on_line
        self.replies = ReplyReader()
        self.last_reply: AgiReply | None = None
        self._sent: str | None = None  # the line of the command being replayed
        self._reply: AgiReply | None = None  # its reply, already read by the loop

    def _quote(self, string: Any) -> str:
        text = str(string)
        if "\n" in text or "\r" in text or "\x00" in text:
            raise ValueError("an AGI argument cannot contain a line break or NUL")
        return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'

    # -- the two passes ------------------------------------------------------------------

    def command_line(self, method: Callable[..., Any], *args: Any) -> str:
        """Dry run of one of pyst2's command methods (bound to self): the line it sends."""
        outbox = self._outbox.lines
        outbox.clear()
        try:
            method(*args)
        except ReplyPending:
            pass
        else:
            raise RuntimeError(f"{method.__name__} finished without reading a reply")
        if len(outbox) != 1:
            raise RuntimeError(f"{method.__name__} sent {len(outbox)} commands, not one")
        return outbox[0].rstrip("\n")

    def replay(self, method: Callable[..., Any], args: tuple[Any, ...], line: str, reply: AgiReply) -> Any:
        """Run the method again with its reply in hand; pyst2 turns the reply into its value."""
        self._sent, self._reply = line, reply
        try:
            return method(*args)
        finally:
            self._sent = self._reply = None

    # -- pyst2's I/O, replaced -----------------------------------------------------------

    def send_command(self, command: str, *args: Any) -> None:
        line = " ".join([command.strip(), *map(str, args)]).strip()
        if "\n" in line or "\r" in line:
            raise ValueError("an AGI command is one line")
        if self._sent is not None:  # replaying: the line went out on the dry run
            if line != self._sent:
                raise RuntimeError(f"pyst2 formatted {line!r} on replay, {self._sent!r} before")
            return
        if self._on_line is not None:
            self._on_line(">>", line)
        self.stdout.write(line + "\n")
        self.stdout.flush()

    def get_result(self, stdin: Any = None) -> dict[str, tuple[str, str]]:
        """The reply in pyst2's shape, so its command methods work."""
        if self._reply is not None:
            reply, self._reply = self._reply, None  # one reply per replay
        elif self._read_line is None:
            raise ReplyPending
        else:
            reply = self._read_reply()
        self.last_reply = reply
        if self.replies.hangup_seen:  # e.g. HANGUP while idle, then "200 result=0" to NOOP
            raise AgiHangup("the caller hung up", reply)
        result: dict[str, tuple[str, str]] = {"result": (reply.result, reply.data)}
        for key, value in reply.extra.items():
            result[key] = (value, "")
        return result

    def _read_reply(self) -> AgiReply:
        """Blocking mode: read lines until the reply is whole."""
        assert self._read_line is not None
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
                    raise after_failure(failed, line) from None
                raise
        return reply

    def test_hangup(self) -> None:
        if self.replies.hangup_seen:
            raise AgiHangup("the caller hung up")


def after_failure(failed: AgiCommandFailed, line: str) -> AgiHangup | AgiProtocolError:
    """The line read right after ``200 result=-1``: ``HANGUP`` makes it a hang-up."""
    if line == HANGUP_LINE:
        return AgiHangup("the caller hung up", failed.reply)
    return AgiProtocolError(f"unexpected line after a reply: {line[:80]!r}")
