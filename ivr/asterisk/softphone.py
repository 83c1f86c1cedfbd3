"""A terminal softphone that dials the FastAGI server as Asterisk does.

``ivr call`` runs :func:`run_softphone`: it sends the AGI environment block, answers
every command with the reply a real Asterisk 22 gives (:class:`ivr.asterisk.peer.AsteriskPeer`)
and shows what the caller hears: the prompt id and its text from ``prompts/<lang>.yaml``.

The call runs in real time, as on a phone: a question waits its timeout, the wait in
queue lasts until an operator is free, whether or not anything is typed
(:class:`~ivr.asterisk.keypad.Keypad` reads the keys on a thread of its own).  Keys act
at once on a terminal (``0``-``9``, ``*``, ``#``); keys typed ahead are pressed in order, a
key typed before a prompt that allows barge-in interrupts it.  Enter on an empty line is
silence now (the current wait ends), ``h`` (or the end of the input) hangs up.  When the
caller is recorded, type what they say, then Enter (it is only shown; speech
recognition is off without a model).  Each call gets its own id, as Asterisk's
``Uniqueid``: ``<epoch seconds>.<sequence>``.
"""

from __future__ import annotations

import itertools
import os
import sys
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TextIO

from ivr.asterisk.keypad import Keypad
from ivr.asterisk.peer import AsteriskPeer, CallerHangsUp, default_env, dial
from ivr.prompts.catalog import load_catalog

_SEQUENCE = itertools.count(1)


def new_call_id(clock: Callable[[], float] = time.time) -> str:
    """A call id as Asterisk gives one (``1795312804.30``: epoch seconds, a sequence):
    unique for every call of every softphone process on the machine (the sequence
    starts from the process id, as two processes never share one at the same time)."""
    return f"{int(clock())}.{os.getpid()}{next(_SEQUENCE):03d}"


def load_prompt_texts(prompts_dir: str | Path, language: str) -> dict[str, str]:
    """``{"menu.main": "Выберите тему..."}`` for one language, from the prompt catalog."""
    catalog, _problems = load_catalog(prompts_dir)
    return dict(catalog.texts.get(language, {}))


class TerminalCaller:
    """The person at the keyboard, as the :class:`~ivr.asterisk.peer.Caller` of a call."""

    def __init__(self, *, keypad: Keypad, output: TextIO, texts: Mapping[str, str]) -> None:
        self.keypad = keypad
        self.output = output
        self.texts = texts

    def _say(self, text: str) -> None:
        self.output.write(text + "\n")
        self.output.flush()

    def hear(self, kind: str, what: str, escape: str) -> str | None:
        if self.keypad.hung_up_ahead():
            raise CallerHangsUp
        if kind == "file":
            prompt = what.rsplit("/", 1)[-1]
            self._say(f"  ♪ [{prompt}] {self.texts.get(prompt, '')}".rstrip())
        else:
            self._say(f"  ♪ ({kind}) {what}")
        return self.keypad.take_key(escape) if escape else None

    def wait_key(self, ms: int) -> str | None:
        """Up to ``ms`` of real time for a key; silence is simply waiting it out."""
        deadline = time.monotonic() + ms / 1000
        while True:
            press = self.keypad.next(max(0.0, deadline - time.monotonic()))
            if press is None or press.kind == "silence":
                return None
            if press.kind == "hangup":
                raise CallerHangsUp
            if press.kind == "key":
                return press.value

    def speak(self, max_ms: int, escape: str) -> str | None:
        self._say(f"  ● recording, up to {max_ms / 1000:.0f} s: say (type) it, then Enter")
        deadline, said = time.monotonic() + max_ms / 1000, ""
        while True:
            press = self.keypad.next(max(0.0, deadline - time.monotonic()))
            if press is None or press.kind == "silence" or (press.kind == "eol" and said):
                return None
            if press.kind == "hangup":
                raise CallerHangsUp
            if press.kind == "key" and not said and press.value in escape:
                return press.value
            said += press.value  # an "eol" before anything said closed the line of keys before

    def event(self, text: str) -> None:
        if text.startswith("StartMusicOnHold"):
            self._say("  ♫ music on hold: waiting for an operator (h = hang up)")
        elif text.startswith("IVR_") or text == "hangup":
            self._say(f"  · {text}")

    def in_conversation(self) -> None:
        """Talking (to an operator): until the person hangs up."""
        while (press := self.keypad.next(None)) is not None and press.kind != "hangup":
            pass


def run_softphone(
    host: str = "127.0.0.1",
    port: int = 4573,
    *,
    input: TextIO | None = None,
    output: TextIO | None = None,
    keypad: Keypad | None = None,
    caller: str = "79990000001",
    language: str = "ru",
    prompts_dir: str | Path = "prompts",
    dialled: str = "88005553535",
    uniqueid: str | None = None,
    timeout: float = 600.0,
) -> dict[str, str]:
    """Dial the engine's FastAGI server and play the caller; returns the channel variables
    the engine set (IVR_STATUS, IVR_OPERATOR_ENDPOINT, IVR_APPEAL, ...).  Connected to an
    operator, the call lasts until the person hangs up."""
    out = output or sys.stdout
    own = keypad is None
    keys = keypad or Keypad(input or sys.stdin, echo=out).start()
    try:
        person = TerminalCaller(keypad=keys, output=out, texts=load_prompt_texts(prompts_dir, language))
        call_id = uniqueid or new_call_id()
        env = default_env(caller=caller, language=language, uniqueid=call_id, extension=dialled, port=port)
        peer = AsteriskPeer(person, env=env)
        out.write(f"Calling {dialled} from {caller} over FastAGI {host}:{port} (call {call_id})\n"
                  "Keys act at once: 0-9 * #; Enter on an empty line = silence; h = hang up.\n")
        out.flush()
        dial(host, port, peer, env, timeout=timeout)
        if peer.variables.get("IVR_STATUS", "") == "connect" and not peer.dead:
            out.write(f"Connected to operator {peer.variables.get('IVR_OPERATOR', '')} "
                      f"at {peer.variables.get('IVR_OPERATOR_ENDPOINT', '')}: talking (h = hang up)\n")
            out.flush()
            person.in_conversation()
        out.write("Call ended.\n")
        out.flush()
        return dict(peer.variables)
    finally:
        if own:
            keys.close()
