"""The softphone's keypad: what the person types, read without ever holding up the call.

A reader thread turns the terminal (or any text stream) into :class:`Press` values on a
queue, so the call goes on while the person is silent: a prompt plays, a wait in queue
lasts its seconds, whether or not anything was typed.  On a terminal the keys are read
one by one (cbreak mode: no Enter needed, as on a phone) and echoed; any other stream
(a pipe, a file, a test's ``StringIO``) is read as it comes.

=========  ===========================================================================
press      typed
=========  ===========================================================================
key        ``0``-``9``, ``*``, ``#``: a key on the phone's keypad
hangup     ``h`` (or ``H``), Ctrl-D, the end of the input: the person hangs up (the value:
           the letter typed, which a recording past its first letter takes as said)
answer     ``a``: answer a ringing call
silence    Enter on an empty line: "I say nothing" (the current wait ends at once)
eol        Enter after keys or text on the same line (ends what a recorded caller says)
text       any other character: what a recorded caller says (speech is typed)
ring       not typed: the line rings (put by :mod:`ivr.softphone`)
missed     not typed: the operator the call was handed to did not answer (the value:
           ``<call id> <operator>``, put by :mod:`ivr.softphone`)
=========  ===========================================================================
"""

from __future__ import annotations

import codecs
import collections
import contextlib
import os
import threading
import time
from dataclasses import dataclass
from typing import Any, Literal, TextIO

PressKind = Literal["key", "hangup", "answer", "silence", "eol", "text", "ring", "missed", "answered"]
KEYS = "0123456789*#"


@dataclass(frozen=True)
class Press:
    kind: PressKind
    value: str = ""


def presses(text: str, *, line_has_content: bool = False) -> tuple[list[Press], bool]:
    """The presses in a piece of typed text, and whether the current line has content
    after it (a blank line's Enter is silence, the Enter closing a line of keys is not:
    keys act at once, and may be typed as a line, ``500100732259#`` and Enter)."""
    out: list[Press] = []
    for ch in text:
        if ch in "\r\n":
            out.append(Press("eol" if line_has_content else "silence"))
            line_has_content = False
        elif ch in KEYS:
            out.append(Press("key", ch))
            line_has_content = True
        elif ch in "hH\x04":
            out.append(Press("hangup", ch if ch in "hH" else ""))
            line_has_content = True
        elif ch in "aA":
            out.append(Press("answer"))
            line_has_content = True
        elif ch.isprintable():
            out.append(Press("text", ch))
            line_has_content = True
    return out, line_has_content


class Keypad:
    """Presses from ``stream``, in order; :meth:`next` waits for one up to a deadline."""

    def __init__(self, stream: TextIO, *, echo: TextIO | None = None) -> None:
        self.stream = stream
        self.echo = echo
        self._presses: collections.deque[Press] = collections.deque()
        self._changed = threading.Condition()
        self._restore: list[tuple[int, list[Any]]] = []
        self._thread: threading.Thread | None = None

    # -- reading ---------------------------------------------------------------------------

    def start(self) -> Keypad:
        fd = _tty_fd(self.stream)
        if fd is not None:
            self._cbreak(fd)
        self._thread = threading.Thread(target=self._read_tty if fd is not None else self._read_stream,
                                         args=(fd,) if fd is not None else (), name="keypad", daemon=True)
        self._thread.start()
        return self

    def _cbreak(self, fd: int) -> None:
        import termios
        import tty

        saved = termios.tcgetattr(fd)
        tty.setcbreak(fd)
        self._restore.append((fd, saved))

    def _read_tty(self, fd: int) -> None:
        decoder = codecs.getincrementaldecoder("utf-8")("replace")
        line = False
        while True:
            try:
                chunk = os.read(fd, 1024)
            except OSError:
                chunk = b""
            if not chunk:
                self.put(Press("hangup"))
                return
            text = decoder.decode(chunk)
            if self.echo is not None and text:
                self.echo.write(text.replace("\r", "\n"))
                self.echo.flush()
            found, line = presses(text, line_has_content=line)
            self.put(*found)

    def _read_stream(self) -> None:
        line = False
        while True:
            try:
                ch = self.stream.read(1)
            except (OSError, ValueError):
                ch = ""
            if not ch:
                self.put(Press("hangup"))
                return
            found, line = presses(ch, line_has_content=line)
            self.put(*found)

    def close(self) -> None:
        """Give the terminal its modes back."""
        while self._restore:
            import termios

            fd, saved = self._restore.pop()
            with contextlib.suppress(OSError, termios.error):
                termios.tcsetattr(fd, termios.TCSADRAIN, saved)

    # -- the queue ---------------------------------------------------------------------------

    def put(self, *found: Press) -> None:
        if not found:
            return
        with self._changed:
            self._presses.extend(found)
            self._changed.notify_all()

    def next(self, timeout: float | None) -> Press | None:
        """The next press, waiting up to ``timeout`` seconds (None: for ever); None if none came."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._changed:
            while not self._presses:
                left = None if deadline is None else deadline - time.monotonic()
                if left is not None and left <= 0:
                    return None
                self._changed.wait(left)
            return self._presses.popleft()

    def take_key(self, allowed: str) -> str | None:
        """A key typed ahead, at the head of the queue and in ``allowed``; never waits.
        Line ends at the head are dropped (they closed keys already taken)."""
        with self._changed:
            while self._presses and self._presses[0].kind == "eol":
                self._presses.popleft()
            head = self._presses[0] if self._presses else None
            if head is not None and head.kind == "key" and head.value in allowed:
                self._presses.popleft()
                return head.value
            return None

    def waiting(self) -> bool:
        """Something typed ahead waits in the queue (not just the end of a line)."""
        with self._changed:
            return any(p.kind != "eol" for p in self._presses)

    def hung_up_ahead(self) -> bool:
        """The person hung up already (a hang-up waits at the head of the queue)."""
        with self._changed:
            return bool(self._presses) and self._presses[0].kind == "hangup"


def _tty_fd(stream: TextIO) -> int | None:
    try:
        return stream.fileno() if stream.isatty() else None
    except (AttributeError, OSError, ValueError):
        return None
