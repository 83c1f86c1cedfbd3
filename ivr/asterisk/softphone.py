"""A terminal softphone that dials the FastAGI server as Asterisk does.

``ivr call`` runs :func:`run_softphone`: it sends the AGI environment block, answers
every command with the reply a real Asterisk 22 gives (:class:`ivr.asterisk.peer.AsteriskPeer`)
and shows what the caller hears: the prompt id and its text from ``prompts/<lang>.yaml``.

Keys: type them and press Enter (``500100732259#``).  Keys typed ahead are pressed in
order; a key typed before a prompt that allows barge-in interrupts it.  An empty line is
silence (the timeout), ``h`` (or end of input) hangs up.  When the caller is recorded,
type what they say (it is only shown; speech recognition is off without a model).
"""

from __future__ import annotations

import sys
import time
from collections.abc import Mapping
from pathlib import Path
from typing import TextIO

from ivr.asterisk.peer import AsteriskPeer, CallerHangsUp, default_env, dial
from ivr.prompts.catalog import load_catalog


def load_prompt_texts(prompts_dir: str | Path, language: str) -> dict[str, str]:
    """``{"menu.main": "Выберите тему..."}`` for one language, from the prompt catalog."""
    return dict(load_all_prompt_texts(prompts_dir).get(language, {}))


def load_all_prompt_texts(prompts_dir: str | Path) -> dict[str, dict[str, str]]:
    """Every language's prompt texts: ``{"ru": {...}, "en": {...}}``."""
    catalog, _problems = load_catalog(prompts_dir)
    return {lang: dict(texts) for lang, texts in catalog.texts.items()}


class TerminalCaller:
    """The person at the keyboard, as the :class:`~ivr.asterisk.peer.Caller` of a call."""

    def __init__(self, *, input: TextIO, output: TextIO, texts: Mapping[str, str],
                 languages: Mapping[str, Mapping[str, str]] | None = None) -> None:
        self.input = input
        self.output = output
        self.texts = texts
        self.languages = languages or {}  # the texts shown once the engine sets CHANNEL(language)
        self.typed: list[str] = []
        self.on_hold = False  # music on hold: ask once, then wait in real time
        self.asked_on_hold = False

    def _say(self, text: str) -> None:
        self.output.write(text + "\n")
        self.output.flush()

    def _ask(self, question: str) -> None:
        """Read one line of keys into the type-ahead buffer ("" = silence)."""
        self.output.write(question)
        self.output.flush()
        line = self.input.readline()
        if line == "" or line.strip().lower() in ("h", "hangup"):
            raise CallerHangsUp
        self.typed.extend(ch for ch in line.strip() if ch in "0123456789*#")
        if not line.strip():
            self.typed.append("")  # one timeout

    def hear(self, kind: str, what: str, escape: str) -> str | None:
        if kind == "file":
            prompt = what.rsplit("/", 1)[-1]
            self._say(f"  ♪ [{prompt}] {self.texts.get(prompt, '')}".rstrip())
        else:
            self._say(f"  ♪ ({kind}) {what}")
        if self.typed and self.typed[0] and escape and self.typed[0] in escape:
            return self.typed.pop(0)
        return None

    def wait_key(self, ms: int) -> str | None:
        if not self.typed and self.on_hold and self.asked_on_hold:
            time.sleep(min(ms, 1000) / 1000)
            return None
        if not self.typed and self.on_hold:
            self.asked_on_hold = True
            self._ask("waiting in queue (Enter = keep waiting, h = hang up, or a key)> ")
        if not self.typed:
            self._ask(f"keys (Enter = silence, h = hang up; {ms / 1000:.0f} s)> ")
        key = self.typed.pop(0)
        return key or None

    def speak(self, max_ms: int, escape: str) -> str | None:
        self.output.write(f"  ● recording, up to {max_ms / 1000:.0f} s; say (type) it> ")
        self.output.flush()
        line = self.input.readline()
        if line == "" or line.strip().lower() in ("h", "hangup"):
            raise CallerHangsUp
        return "#" if line.strip() == "#" and "#" in escape else None

    def event(self, text: str) -> None:
        if text.startswith("CHANNEL(language)="):
            language = text.partition("=")[2]
            self.texts = self.languages.get(language, self.texts)
            self._say(f"  · language: {language}")
        elif text.startswith("StartMusicOnHold"):
            self.on_hold, self.asked_on_hold = True, False
            self._say("  ♫ music on hold")
        elif text.startswith("StopMusicOnHold"):
            self.on_hold = False
        elif text.startswith("IVR_") or text == "hangup":
            self._say(f"  · {text}")


def run_softphone(
    host: str = "127.0.0.1",
    port: int = 4573,
    *,
    input: TextIO | None = None,
    output: TextIO | None = None,
    caller: str = "79990000001",
    language: str = "ru",
    prompts_dir: str | Path = "prompts",
    dialled: str = "88005553535",
    uniqueid: str = "1795312804.30",
    timeout: float = 600.0,
) -> dict[str, str]:
    """Dial the engine's FastAGI server and play the caller; returns the channel variables
    the engine set (IVR_STATUS, IVR_OPERATOR_ENDPOINT, IVR_APPEAL, ...)."""
    out = output or sys.stdout
    languages = load_all_prompt_texts(prompts_dir)
    person = TerminalCaller(input=input or sys.stdin, output=out,
                            texts=languages.get(language, {}), languages=languages)
    env = default_env(caller=caller, language=language, uniqueid=uniqueid, extension=dialled, port=port)
    peer = AsteriskPeer(person, env=env)
    out.write(f"Calling {dialled} from {caller} over FastAGI {host}:{port}\n")
    dial(host, port, peer, env, timeout=timeout)
    status = peer.variables.get("IVR_STATUS", "")
    if status == "connect":
        out.write(f"Connected to operator {peer.variables.get('IVR_OPERATOR', '')} "
                  f"at {peer.variables.get('IVR_OPERATOR_ENDPOINT', '')}\n")
    out.write("Call ended.\n")
    return dict(peer.variables)
