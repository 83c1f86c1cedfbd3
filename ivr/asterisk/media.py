"""The flow engine's media actions, carried out as AGI commands.

=================  ==========================================================================
Play               ``STREAM FILE ivr/<lang>/<prompt id> "0123456789*#"`` (escapes: barge-in);
                   two or more in a row that no key may cut short (without barge-in, or in a
                   batch whose wait takes no key: the appeal number and the queue's
                   announcement before the music): one ``EXEC Playback
                   ivr/ru/common.your_appeal&ivr/ru/number.4&...``, the batch's
                   ``SET VARIABLE``s between them sent first
SayDigits/Number   ``SAY DIGITS 1205 ""`` / ``SAY NUMBER 21 ""`` (CHANNEL(language) set at start)
CollectDigits      its prompts (escapable), then ``WAIT FOR DIGIT <ms>`` per key
CollectSpeech      its prompts, ``RECORD FILE`` with the accepted keys as escapes, then the
                   injected recogniser; a key pressed switches to digit collection
Record             its prompts, then ``RECORD FILE`` (a spoken name when speech is off)
HoldMusic          ``EXEC StartMusicOnHold`` once, then one ``WAIT FOR DIGIT <seconds>`` per
                   hold (with AMI: ``<until_announcement>``, cut short by routing's news,
                   :mod:`ivr.asterisk.wakes`); the music goes on across holds and stops
                   (``EXEC StopMusicOnHold``) only before the caller hears anything else or
                   the call leaves the engine
SetVariable        ``SET VARIABLE`` (not again when the call already has that value, nor
                   ``CHANNEL(language)`` when the environment block says the channel has it)
StartRecording     ``SET VARIABLE IVR_RECORD 1`` (the dialplan runs MixMonitor on the bridge)
Connect            ``SET VARIABLE IVR_OPERATOR/IVR_OPERATOR_ENDPOINT/IVR_RECORD``, end of AGI:
                   the dialplan Dials ``${IVR_OPERATOR_ENDPOINT}``
Transfer           ``SET VARIABLE IVR_TRANSFER`` (the engine sets it too), end of AGI
Hangup             ``HANGUP``
=================  ==========================================================================

A key pressed during a ``Play`` with ``barge_in`` skips the rest of the batch's prompts and
becomes the first key of the waiting action that ends the batch (see :mod:`ivr.flow.actions`).

A call from the ``ivr call`` terminal (``words`` given) carries no audio, so the terminal
cannot hear which text a prompt file says: before a batch, ``SET VARIABLE IVR_WORDS`` with
``{"<lang>/<prompt id>": "<text>"}`` for the batch's prompts not told before, as the engine's
accepted prompt texts say them (a refused edit of ``prompts/*.yaml`` is never shown).

Music on hold is continuous: a queued caller's batches are "hold" until the engine has
something to say (an announcement every ``announce_every``, the operator, the callback
questions), so the player starts the music at the first hold and leaves it on while batch
after batch is only a hold: one ``WAIT FOR DIGIT`` of the hold's length each, one command
per ``poll_seconds`` (AGI cannot be interrupted from the engine's side: without AMI that
wait bounds how long a reserved operator waits for the caller).  With AMI a hold lasts
until the next announcement and AMI cuts it short when routing names the call
(:mod:`ivr.asterisk.wakes`).

Every AGI command is a round trip the engine's loop wakes for (``bench/asterisk_cost.py``: about
0.3 ms of the engine's CPU each on a real host), so prompts nobody can interrupt go out as one
``Playback`` and a variable is not set twice to the same value.  A missing file in a
``Playback`` is skipped by Asterisk as ``STREAM FILE`` skips it here; an Asterisk without the
Playback application (``200 result=-2``) gets the files one ``STREAM FILE`` each, and a warning.

The player runs on the server's event loop; the one blocking thing it does, speech
recognition, goes through the ``offload`` it is given (a bounded thread pool).
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Protocol, TypeVar

from ivr.asterisk.agi import AgiCommandFailed
from ivr.asterisk.channel import ESCAPE_ALL, AgiChannel
from ivr.asterisk.wakes import WAKE_KEY, HoldWakes
from ivr.flow import actions as a
from ivr.flow import events as e

log = logging.getLogger(__name__)
_NO_PLAYBACK_TOLD: list[bool] = []  # the missing Playback application was logged (once a process)
# Seconds to wait, after the longest number, for the terminator the prompt asked for.
TERMINATOR_GRACE = 2.0

# (clip path, mode, grammar, language) -> (text, confidence), or None when nothing was heard
Recogniser = Callable[[str, str, tuple[str, ...], str], "tuple[str, float] | None"]
T = TypeVar("T")


# The text of a prompt as the engine says it: (prompt id, language) -> text, None if unknown.
Words = Callable[[str, str], "str | None"]


def _plays(actions: Sequence[a.MediaAction]) -> list[a.Play]:
    """Every prompt file a batch plays, its waiting action's included."""
    out: list[a.Play] = []
    for action in actions:
        if isinstance(action, a.Play):
            out.append(action)
        elif isinstance(action, (a.CollectDigits, a.CollectSpeech, a.Record)):
            out.extend(p for p in action.prompts if isinstance(p, a.Play))
    return out


class Offload(Protocol):
    """Runs blocking work off the event loop (the server's bounded pool) and awaits it."""

    def __call__(self, work: Callable[[], T], /) -> Awaitable[T]: ...


async def inline(work: Callable[[], T]) -> T:
    """An :class:`Offload` that does not offload (tests, work known to be instant)."""
    return work()


@dataclass(frozen=True)
class MediaSettings:
    # Prompt files relative to Asterisk's sounds dir: <prefix>/<lang>/<prompt id>.
    sounds_prefix: str = "ivr"
    # Where RECORD FILE writes (Asterisk's side of the file system).
    record_dir: str = "/var/spool/asterisk/ivr"
    record_format: str = "wav"
    music_class: str = "default"
    # Longest prompt expected, in seconds: a STREAM FILE unanswered for this (plus the
    # reply grace) means the peer stalled.
    prompt_seconds: float = 60.0


class CallEnded(Exception):
    """The engine handed the call back to the dialplan (Connect, Transfer) or hung up."""


class MediaPlayer:
    """Carries out one batch of media actions on a channel; returns the caller's answer."""

    def __init__(
        self,
        channel: AgiChannel,
        *,
        settings: MediaSettings | None = None,
        recognise: Recogniser | None = None,
        clock: Callable[[], float] = time.time,
        interrupted: Callable[[], bool] = lambda: False,
        offload: Offload = inline,
        known: dict[str, str] | None = None,
        wakes: HoldWakes | None = None,
        call_id: str = "",
        words: Words | None = None,
    ) -> None:
        self.channel = channel
        self.words = words  # a terminal's call: the text of each prompt, told before it plays
        self._told: set[tuple[str, str]] = set()
        self.wakes = wakes  # this server's calls on hold, cut short on routing's news
        self.call_id = call_id
        self.interrupted = interrupted  # True: cut the wait in queue short (engine stopping)
        self.settings = settings or MediaSettings()
        self.recognise = recognise
        self.clock = clock
        self.offload = offload
        self.music = False  # music on hold is playing on the channel
        self.variables: dict[str, str] = dict(known or {})  # what the channel has, as far as we know

    async def quiet(self) -> None:
        """Stop the music on hold, if it plays (before anything else is heard or done)."""
        if self.music:
            self.music = False
            if not self.channel.hung_up:
                await self.channel.exec("StopMusicOnHold")

    async def set_variable(self, name: str, value: str) -> None:
        """``SET VARIABLE``, unless this call already set ``name`` to ``value`` (every variable the
        player sets goes through here, so what it remembers is what the channel has)."""
        if self.variables.get(name) != value:
            await self.channel.set_variable(name, value)
            self.variables[name] = value

    def prompt_path(self, prompt: str, language: str) -> str:
        return f"{self.settings.sounds_prefix}/{language}/{prompt}"

    async def run(self, actions: Sequence[a.MediaAction]) -> e.Event | None:
        """Carry out a batch; the event for its waiting action, None if the call ended.

        Raises :class:`CallEnded` after Connect/Transfer/Hangup.
        """
        barged: str | None = None
        escape = _barge_in_keys(actions)
        if self.words is not None:
            await self._tell_words(actions)
        for action in _recitals(actions, escape):
            if not isinstance(action, (a.HoldMusic, a.SetVariable, a.StartRecording)):
                await self.quiet()
            if isinstance(action, Recital):
                if barged is None:
                    await self._recite(action)
            elif isinstance(action, (a.Play, a.SayDigits, a.SayNumber)):
                if barged is None:
                    barged = await self._prompt(action, escape)
            elif isinstance(action, a.CollectDigits):
                return await self._collect_digits(action, barged)
            elif isinstance(action, a.CollectSpeech):
                return await self._collect_speech(action, barged)
            elif isinstance(action, a.Record):
                return await self._record(action, barged)
            elif isinstance(action, a.HoldMusic):
                return await self._hold(action, barged)
            elif isinstance(action, a.SetVariable):
                await self.set_variable(action.name, action.value)
            elif isinstance(action, a.StartRecording):
                await self.set_variable("IVR_RECORD", "1")
            elif isinstance(action, a.Connect):
                await self.set_variable("IVR_OPERATOR", action.operator)
                await self.set_variable("IVR_OPERATOR_ENDPOINT", action.endpoint)
                await self.set_variable("IVR_RECORD", "1" if action.record else "0")
                await self.set_variable("IVR_STATUS", "connect")
                raise CallEnded("connect")
            elif isinstance(action, a.Transfer):
                await self.set_variable("IVR_TRANSFER", action.target)
                await self.set_variable("IVR_STATUS", "transfer")
                raise CallEnded("transfer")
            elif isinstance(action, a.Hangup):
                await self.channel.hangup()
                raise CallEnded("hangup")
        return None

    # -- prompts -----------------------------------------------------------------------

    async def _tell_words(self, actions: Sequence[a.MediaAction]) -> None:
        assert self.words is not None
        new: dict[str, str] = {}
        for play in _plays(actions):
            if (play.language, play.prompt) not in self._told:
                self._told.add((play.language, play.prompt))
                new[f"{play.language}/{play.prompt}"] = self.words(play.prompt, play.language) or ""
        if new:
            await self.channel.set_variable("IVR_WORDS", json.dumps(new, ensure_ascii=False))

    async def _prompt(self, prompt: a.Prompt, escape: str) -> str | None:
        """Play one prompt; the key that barged in, or None."""
        if isinstance(prompt, a.Play):
            keys = escape if prompt.barge_in else ""
            path = self.prompt_path(prompt.prompt, prompt.language)
            return await self.channel.stream_file(path, keys, expect=self.settings.prompt_seconds)
        if isinstance(prompt, a.SayDigits):
            return await self.channel.say_digits(prompt.digits, escape) if prompt.digits else None
        return await self.channel.say_number(prompt.number, escape)

    async def _recite(self, recital: Recital) -> None:
        """One ``Playback`` of the files; one ``STREAM FILE`` each where Asterisk has no Playback
        (a host whose modules.conf predates it: the call goes on, the log says what to fix)."""
        paths = [self.prompt_path(p.prompt, p.language) for p in recital.plays]
        try:
            await self.channel.playback(paths, expect=self.settings.prompt_seconds * len(paths))
            return
        except AgiCommandFailed as failed:
            if failed.reply is None or failed.reply.result != "-2":  # -2: no such application
                raise
            if not _NO_PLAYBACK_TOLD:
                _NO_PLAYBACK_TOLD.append(True)
                log.warning("Asterisk has no Playback application: prompts are played one command each "
                            "(require app_playback.so in modules.conf, as dialplans/asterisk ships it)")
        for path in paths:
            await self.channel.stream_file(path, "", expect=self.settings.prompt_seconds)

    async def _prompts(self, prompts: Sequence[a.Prompt], barged: str | None, escape: str) -> str | None:
        if barged is not None:
            return barged
        for prompt in prompts:
            key = await self._prompt(prompt, escape)
            if key is not None:
                return key
        return None

    # -- waiting actions --------------------------------------------------------------------

    async def _collect_digits(self, action: a.CollectDigits, barged: str | None) -> e.Event:
        first = await self._prompts(action.prompts, barged, ESCAPE_ALL)
        digits = ""
        if first is not None and first in action.keys:
            digits = first
        return await self._more_digits(digits, action.max_digits, action.terminator, action.keys,
                                       action.timeout, action.inter_digit_timeout)

    async def _more_digits(
        self, digits: str, max_digits: int, terminator: str, keys: str, timeout: float, inter: float
    ) -> e.Event:
        while len(digits) < max_digits and not (terminator and digits.endswith(terminator)):
            key = await self.channel.wait_for_digit(int((inter if digits else timeout) * 1000))
            if key is None:
                break
            if key in keys or key == terminator:
                digits += key
        if terminator and len(digits) >= max_digits and not digits.endswith(terminator):
            # "12 digits, then #": take the # here.  Left unread it barges into the next
            # prompt and acts there (real Asterisk: a re-asked number was skipped, a
            # readback got '#' for its answer).  Another digit makes the entry too long.
            key = await self.channel.wait_for_digit(int(min(inter, TERMINATOR_GRACE) * 1000))
            if key is not None and (key in keys or key == terminator):
                digits += key
        if not digits:
            return e.NoInput(self.clock())
        return e.DigitsEntered(digits, self.clock())

    async def _collect_speech(self, action: a.CollectSpeech, barged: str | None) -> e.Event:
        keys = action.keys
        first = await self._prompts(action.prompts, barged, keys or ESCAPE_ALL)
        if first is not None and first in keys:
            return await self._more_digits(first, action.max_digits, action.terminator,
                                           keys + "0123456789", action.timeout, action.timeout)
        if self.recognise is None:  # the engine asked for speech that this front end lacks
            return e.NoInput(self.clock())
        clip = self._clip_path(action.clip or "speech")
        rec = await self.channel.record_file(clip, fmt=self.settings.record_format, escape=keys,
                                             max_seconds=action.max_seconds, silence=2.0)
        if rec.ended == "dtmf" and rec.key:
            return await self._more_digits(rec.key, action.max_digits, action.terminator,
                                           keys + "0123456789", action.timeout, action.timeout)
        recognise, audio = self.recognise, f"{clip}.{self.settings.record_format}"
        heard = await self.offload(lambda: recognise(audio, action.mode, action.grammar, action.language))
        if heard is None:
            return e.NoInput(self.clock())
        text, confidence = heard
        return e.SpeechHeard(text, confidence, self.clock(), clip=clip)

    async def _record(self, action: a.Record, barged: str | None) -> e.Event:
        await self._prompts(action.prompts, barged, "")
        clip = self._clip_path(action.clip)
        rec = await self.channel.record_file(clip, fmt=self.settings.record_format, escape="#",
                                             max_seconds=action.max_seconds, silence=action.silence)
        if rec.endpos == 0:  # ``200 result=35 (dtmf) endpos=0``: '#' at once, a header-only file
            return e.Recorded(None, self.clock())
        return e.Recorded(clip, self.clock())

    async def _hold(self, action: a.HoldMusic, barged: str | None) -> e.Event:
        """Music (started once, left on) and one ``WAIT FOR DIGIT`` for the hold's length;
        again for the rest only when a key that does not count ended it early."""
        if barged is not None and barged in action.keys:
            return e.DigitsEntered(barged, self.clock())
        wakes = self.wakes if self.wakes is not None and self.wakes.armed(self.call_id) else None
        if wakes is not None and not wakes.begin_hold(self.call_id):
            return e.NoInput(self.clock())  # routing had news while the caller heard something else
        try:
            if not self.music:
                await self.channel.exec("StartMusicOnHold", self.settings.music_class)
                self.music = True
            seconds = max(action.seconds, action.until_announcement) if wakes is not None else action.seconds
            deadline = self.clock() + seconds
            while (left := deadline - self.clock()) > 0.05 and not self.interrupted():
                key = await self.channel.wait_for_digit(max(1, int(left * 1000)))
                if key is None:
                    break  # the whole wait passed
                if key in action.keys:
                    return e.DigitsEntered(key, self.clock())
                if key == WAKE_KEY and wakes is not None:
                    break  # routing has news for the call: look now
        finally:
            if wakes is not None:
                wakes.end_hold(self.call_id)
        return e.NoInput(self.clock())

    def _clip_path(self, clip: str) -> str:
        safe = "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in clip)
        return f"{self.settings.record_dir}/{safe}"


@dataclass(frozen=True)
class Recital:
    """Prompts in a row that no key may interrupt: played by one command."""

    plays: tuple[a.Play, ...]


def _recitals(actions: Sequence[a.MediaAction], escape: str) -> list[a.MediaAction | Recital]:
    """The batch with each run of two or more prompts that no key may cut short made one
    :class:`Recital`: ``Play(barge_in=False)``, or any ``Play`` when the batch's wait takes no
    key (``escape`` empty).  A ``SetVariable`` or ``StartRecording`` inside a run does not
    break it: it goes before the recital (the channel's variables matter only once the
    batch's wait is reached or the call leaves the engine)."""
    out: list[a.MediaAction | Recital] = []
    run: list[a.Play] = []
    aside: list[a.MediaAction] = []  # the run's variables, in order
    segment: list[a.MediaAction] = []  # the run and its variables, as they came
    for action in [*actions, None]:
        if isinstance(action, a.Play) and not (action.barge_in and escape):
            run.append(action)
            segment.append(action)
            continue
        if run and isinstance(action, (a.SetVariable, a.StartRecording)):
            aside.append(action)
            segment.append(action)
            continue
        if len(run) > 1:
            out.extend(aside)
            out.append(Recital(tuple(run)))
        else:
            out.extend(segment)
        run, aside, segment = [], [], []
        if action is not None:
            out.append(action)
    return out


def _barge_in_keys(actions: Sequence[a.MediaAction]) -> str:
    """The keys that may cut a prompt short: those the batch's waiting action accepts."""
    for action in actions:
        if isinstance(action, a.CollectDigits):
            return "".join(dict.fromkeys(action.keys + action.terminator))
        if isinstance(action, a.CollectSpeech):
            return action.keys
        if isinstance(action, a.HoldMusic):
            return action.keys
        if isinstance(action, a.Record):
            return ""
    return ESCAPE_ALL
