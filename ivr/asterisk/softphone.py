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
caller is recorded, type what they say, then Enter: espeak-ng speaks it into the file
the engine asked for, as Asterisk records a caller (:class:`SoftphonePeer`), so the
spoken name can be listened to in the console; an ``h`` after the first letter is part
of what is said ("John Smith"), not a hang-up.  Each call gets its own id, as Asterisk's
``Uniqueid``: ``<epoch seconds>.<sequence>``.
"""

from __future__ import annotations

import itertools
import json
import logging
import os
import sys
import tempfile
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from pydub import AudioSegment

from ivr.asterisk.handover import HUNG_UP, RESUME
from ivr.asterisk.keypad import Keypad
from ivr.asterisk.peer import AsteriskPeer, CallerGone, CallerHangsUp, default_env, dial
from ivr.identity import InvalidIdentity, validate_phone
from ivr.prompts.catalog import load_catalog
from ivr.prompts.render import export_telephone, synthesise
from ivr.softphone import wire
from ivr.softphone.phone import SoftphoneLine

_SEQUENCE = itertools.count(1)
log = logging.getLogger(__name__)


def new_call_id(clock: Callable[[], float] = time.time) -> str:
    """A call id as Asterisk gives one (``1795312804.30``: epoch seconds, a sequence):
    unique for every call of every softphone process on the machine (the sequence
    starts from the process id, as two processes never share one at the same time)."""
    return f"{int(clock())}.{os.getpid()}{next(_SEQUENCE):03d}"


def load_prompt_texts(prompts_dir: str | Path, language: str) -> dict[str, str]:
    """``{"menu.main": "Выберите тему..."}`` for one language, from the prompt catalog."""
    return dict(load_all_prompt_texts(prompts_dir).get(language, {}))


def load_all_prompt_texts(prompts_dir: str | Path) -> dict[str, dict[str, str]]:
    """Every language's prompt texts: ``{"ru": {...}, "en": {...}}``."""
    catalog, _problems = load_catalog(prompts_dir)
    return {lang: dict(texts) for lang, texts in catalog.texts.items()}


class TerminalCaller:
    """The person at the keyboard, as the :class:`~ivr.asterisk.peer.Caller` of a call."""

    def __init__(self, *, keypad: Keypad, output: TextIO, texts: Mapping[str, str],
                 languages: Mapping[str, Mapping[str, str]] | None = None, language: str = "ru",
                 voices: Mapping[str, str] | None = None) -> None:
        self.keypad = keypad
        self.output = output
        self.texts = texts
        self.languages = languages or {}  # the texts shown once the engine sets CHANNEL(language)
        self.language = language
        self.voices = voices or {}  # espeak-ng's voice per language (config.yaml prompts.voices)
        self.on_hold = False  # music on hold: the wait in queue, one prompt for all of it
        self.said = ""  # what the person typed at the last recording

    def _say(self, text: str) -> None:
        self.output.write(text + "\n")
        self.output.flush()

    def hear(self, kind: str, what: str, escape: str) -> str | None:
        if self.keypad.hung_up_ahead():
            raise CallerHangsUp
        self.on_hold = False
        if kind == "file":
            prompt = what.rsplit("/", 1)[-1]
            self._say(f"  ♪ [{prompt}] {self.texts.get(prompt, '')}".rstrip())
        else:
            self._say(f"  ♪ ({kind}) {what}")
        return self.keypad.take_key(escape) if escape else None

    def wait_key(self, ms: int) -> str | None:
        """Up to ``ms`` of real time for a key; silence is simply waiting it out."""
        deadline = time.monotonic() + ms / 1000
        if not self.on_hold and not self.keypad.waiting():
            self.output.write(f"keys (Enter = silence, h = hang up; {ms / 1000:.0f} s)> ")
            self.output.flush()
        while True:
            press = self.keypad.next(max(0.0, deadline - time.monotonic()))
            if press is None or press.kind == "silence":
                return None
            if press.kind == "hangup":
                raise CallerHangsUp
            if press.kind == "key":
                return press.value

    def speak(self, max_ms: int, escape: str) -> str | None:
        self.output.write(f"  ● recording, up to {max_ms / 1000:.0f} s; say (type) it> ")
        self.output.flush()
        deadline, said = time.monotonic() + max_ms / 1000, ""
        self.said = ""
        while True:
            press = self.keypad.next(max(0.0, deadline - time.monotonic()))
            if press is None or press.kind == "silence" or (press.kind == "eol" and said):
                self.said = said.strip()
                return None
            if press.kind == "hangup" and not (said and press.value):  # an h in "John Smith" is said
                raise CallerHangsUp
            if press.kind == "key" and not said and press.value in escape:
                return press.value
            said += press.value  # an "eol" before anything said closed the line of keys before

    def event(self, text: str) -> None:
        if text.startswith("IVR_WORDS="):  # what the engine's prompt files say, as it accepted them
            self.learn_words(text.partition("=")[2])
        elif text.startswith("CHANNEL(language)="):
            language = text.partition("=")[2]
            self.texts = self.languages.get(language, self.texts)
            self.language = language
            self._say(f"  · language: {language}")
        elif text.startswith("StartMusicOnHold"):
            self.on_hold = True
            self._say("  ♫ music on hold")
            self.output.write("waiting in queue (waiting needs no key; h = hang up, or a key)> ")
            self.output.flush()
        elif text.startswith("StopMusicOnHold"):
            self.on_hold = False
        elif text.startswith("IVR_") or text == "hangup":
            self._say(f"  · {text}")

    def learn_words(self, told: str) -> None:
        """``{"ru/menu.main": "Выберите тему..."}``: the words the engine's prompt files say
        (a terminal hears no file); they replace what ``prompts/*.yaml`` here says, which may
        be an edit the engine refused, or another machine's."""
        try:
            words = json.loads(told)
        except ValueError:
            return
        if not isinstance(words, dict):
            return
        for key, text in words.items():
            language, _, prompt = str(key).partition("/")
            if prompt and isinstance(text, str):
                self.languages = {**self.languages, language: {**self.languages.get(language, {}), prompt: text}}
        self.texts = self.languages.get(self.language, self.texts)

    def leave_recording(self, path: Path) -> None:
        """Leave what the person typed at ``path`` as Asterisk's RECORD FILE leaves what a
        caller said (8 kHz mono 16-bit WAV), spoken by espeak-ng in the call's language: the
        engine then keeps it, encrypted, as the caller's spoken name, and the operator and the
        auditor can listen to it.  An engine on another machine (no such folder here), a
        format other than WAV or no espeak-ng: nothing is left, and the person is told."""
        if not self.said:
            return
        why = speak_clip(self.said, self.voices.get(self.language, self.language), path)
        if why:
            self._say(f"  · the recording stays silent: {why}")

    def in_conversation(self, call_id: str, operator: str) -> bool:
        """Handed to ``operator``: until the person hangs up (False), or the engine says that
        operator did not answer this call (True: the call dials in again).  A word about
        another call, or an operator the call has already left, is not this ring's."""
        while (press := self.keypad.next(None)) is not None and press.kind != "hangup":
            if press.kind == "missed" and press.value == f"{call_id} {operator}":
                return True
            if press.kind == "answered" and press.value == f"{call_id} {operator}":
                self._say(f"Operator {operator} answered: you are talking (a terminal carries no audio: "
                          "nothing is recorded; h = hang up)")
        return False


def speak_clip(text: str, voice: str, path: Path) -> str:
    """``text`` spoken by espeak-ng into ``path`` as telephone WAV, written whole or not at
    all; an empty string, or why nothing was written."""
    if path.suffix != ".wav":
        return f"the engine asked for {path.suffix or 'no'} format, the softphone speaks WAV only"
    if not path.parent.is_dir():
        return f"no folder {path.parent} here (the engine on another machine?)"
    with tempfile.TemporaryDirectory(prefix="ivr-call-") as work:
        spoken = Path(work) / "spoken.wav"
        try:
            synthesise(text, voice, spoken)
            export_telephone(AudioSegment.from_wav(spoken), path)  # as the prompts are rendered
        except (RuntimeError, OSError) as exc:
            return str(exc)
    return ""


@dataclass
class SoftphonePeer(AsteriskPeer):
    """The softphone's end of the wire: :class:`AsteriskPeer`'s replies, and a recording
    that ended in speech then silence leaves its file where the engine asked for it."""

    def _answer(self, verb: str, args: list[str]) -> list[str]:
        replies = super()._answer(verb, args)
        if verb == "RECORD FILE" and "(timeout)" in replies[0] and isinstance(self.caller, TerminalCaller):
            self.caller.leave_recording(Path(f"{args[0]}.{args[1]}"))
        return replies


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
    voices: Mapping[str, str] | None = None,
    dialled: str = "88005553535",
    uniqueid: str | None = None,
    timeout: float = 600.0,
    line: SoftphoneLine | None = None,
) -> dict[str, str]:
    """Dial the engine's FastAGI server and play the caller; returns the channel variables
    the engine set (IVR_STATUS, IVR_OPERATOR_ENDPOINT, IVR_APPEAL, ...).  Connected to an
    operator, the call lasts until the person hangs up.  With a ``line``, the engine is told
    where this softphone answers (a callback can reach it), and a ring meanwhile is busy."""
    out = output or sys.stdout
    own = keypad is None
    keys = keypad or Keypad(input or sys.stdin, echo=out).start()
    try:
        languages = load_all_prompt_texts(prompts_dir)
        person = TerminalCaller(keypad=keys, output=out, texts=languages.get(language, {}), languages=languages,
                                language=language, voices=voices)
        call_id = uniqueid or new_call_id()
        env = default_env(caller=caller, language=language, uniqueid=call_id, extension=dialled, port=port)
        env[wire.TERMINAL_KEY] = "ivr call"
        if line is not None:
            env[wire.ENV_KEY] = line.contact
            line.busy, line.call_id = True, call_id
        peer = SoftphonePeer(person, env=env)
        out.write(f"Calling {dialled} from {caller} over FastAGI {host}:{port} (call {call_id})\n"
                  "Keys act at once: 0-9 * #; Enter on an empty line = silence; h = hang up.\n")
        out.flush()
        dial(host, port, peer, env, timeout=timeout)
        variables = dict(peer.variables)
        while peer.variables.get("IVR_STATUS", "") == "connect" and not peer.dead:
            operator = peer.variables.get("IVR_OPERATOR", "")
            # Not "talking" yet: the operator's phone rings until they answer in the console,
            # or it rings out and the call comes back to the line (below).
            out.write(f"Connected to operator {operator} "
                      f"at {peer.variables.get('IVR_OPERATOR_ENDPOINT', '')}: their phone rings until they "
                      "answer in the console (h = hang up)\n")
            out.flush()
            if not person.in_conversation(call_id, operator):
                hang_up_handed_over(host, port, env, timeout=timeout)
                break
            # As Asterisk's [operator-handover] after Dial: back to the engine, which holds
            # the call at the head of its line and hands it to the next operator.
            out.write(f"Operator {operator} did not answer: back in line (call {call_id})\n")
            out.flush()
            env = resumed_env(env, variables, operator)
            peer = SoftphonePeer(person, env=env)
            dial(host, port, peer, env, timeout=timeout)
            variables.update(peer.variables)
        out.write("Call ended.\n")
        out.flush()
        return variables
    finally:
        if line is not None:
            line.busy, line.call_id = False, ""
        if own:
            keys.close()


def hang_up_handed_over(host: str, port: int, env: Mapping[str, str], *, timeout: float = 10.0) -> None:
    """The caller hung up after the hand-over: tell the engine as the dialplan's ``h``
    extension does (``AGI(${IVR_AGI},hungup)``), so the operator's console shows the
    conversation over (or, while it rang, the operator is free again) at once."""
    gone = {**env, "agi_arg_1": HUNG_UP}
    try:
        dial(host, port, AsteriskPeer(CallerGone(), env=gone), gone, timeout=timeout)
    except OSError as exc:  # the engine is gone too: nothing is left to tell
        log.info("could not tell the engine the call is over: %s", exc)


def resumed_env(env: Mapping[str, str], variables: Mapping[str, str], operator: str) -> dict[str, str]:
    """The AGI environment of a call the softphone hands back to the engine after its
    operator did not answer: ``AGI(${IVR_AGI},resume,NOANSWER,<operator>)``, the channel's
    language as the first session set it."""
    return {**env, "agi_arg_1": RESUME, "agi_arg_2": "NOANSWER", "agi_arg_3": operator,
            "agi_language": variables.get("CHANNEL(language)", env.get("agi_language", "ru"))}


def callback_for_me(variables: Mapping[str, str], caller: str) -> bool:
    """The call booked a callback (``IVR_CALLBACK``) to this softphone's own number."""
    try:
        return bool(variables.get("IVR_CALLBACK")) and validate_phone(variables["IVR_CALLBACK"]) == validate_phone(caller)
    except InvalidIdentity:
        return False


def await_callback(keypad: Keypad, line: SoftphoneLine, *, output: TextIO | None = None) -> bool:
    """Wait for the hotline to call back, answer it, talk until hanging up; False: the
    person quit (``h``) before it came."""
    out = output or sys.stdout

    def say(text: str) -> None:
        out.write(text + "\n")
        out.flush()

    say("Waiting for the hotline's callback on this softphone (h = quit).")
    while (press := keypad.next(None)) is not None:
        if press.kind == "hangup":
            return False
        ringing = line.ringing
        if press.kind != "ring" or ringing is None:
            continue
        say(f"☎ The hotline 8 800 555-35-35 is calling back: a = answer, h = decline ({ringing.seconds} s)")
        answer = _answer_or_not(keypad, ringing.seconds)
        if answer is None:
            line.reject()
            say("Missed call; the hotline will try again later.")
        elif not answer:
            line.reject()
            say("Declined; the hotline will try again later.")
        elif not line.answer():
            say("Missed call: the hotline stopped ringing; it will try again later.")
        else:
            say("Connected to the operator: talking (h = hang up)")
            while (talk := keypad.next(None)) is not None and talk.kind != "hangup":
                pass
            line.hang_up()
            say("Call ended.")
            return True
    return False


def _answer_or_not(keypad: Keypad, seconds: int) -> bool | None:
    deadline = time.monotonic() + seconds
    while (press := keypad.next(max(0.0, deadline - time.monotonic()))) is not None:
        if press.kind in ("answer", "silence"):
            return True
        if press.kind == "hangup":
            return False
    return None
