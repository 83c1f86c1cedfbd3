"""One call over FastAGI: from the environment block to the closed socket, as a coroutine.

    env block -> CallStarted -> CallRunner.start -> [media actions -> event -> runner.handle]*

The call runs on the server's event loop: the engine step and the media actions run
inline (pure, about a tenth of a millisecond a step); what may block -- building the
call (``allocate_appeal`` goes to Redis), the engine's service calls (enqueue, queue
polls, callbacks: Redis), speech recognition -- goes through the ``offload`` given,
a bounded thread pool (see :mod:`ivr.asterisk.server`).  A step that reaches a service
call is finished there, in one piece (:func:`run_steps`).

Whatever ends the call (the menu finished, the caller hung up, a protocol error, a
bug), the runner is told ``HungUp`` if it is not done yet, so the engine records the
abandonment at the node where the caller was and leaves the queue; and the socket
is closed, because Asterisk never closes it.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from typing import Protocol

from ivr.asterisk.agi import AgiError, AgiHangup
from ivr.asterisk.channel import AgiChannel, read_env
from ivr.asterisk.connection import AgiConnection
from ivr.asterisk.media import (
    CallEnded,
    MediaPlayer,
    MediaSettings,
    Offload,
    Recogniser,
    Words,
    inline,
)
from ivr.asterisk.wakes import HoldWakes
from ivr.call.runner import Steps
from ivr.flow import actions as a
from ivr.flow import events as e
from ivr.identity import mask_phone

log = logging.getLogger(__name__)


class Runner(Protocol):
    """What a session needs of :class:`ivr.call.CallRunner`."""

    @property
    def done(self) -> bool: ...

    def start_steps(self, event: e.CallStarted) -> Steps: ...

    def handle_steps(self, event: e.Event) -> Steps: ...


# The composition root gives the server one of these: env -> a fresh runner for the call.
CallFactory = Callable[[dict[str, str]], "CallSetup"]


@dataclass(frozen=True)
class CallSetup:
    """What the composition root builds for one call."""

    runner: Runner
    appeal: str | None = None  # services.allocate_appeal()
    recognise: Recogniser | None = None  # None: speech off for this call
    recording: bool = True  # the engine can keep recordings (engine.recordings.enabled)
    recorder: bool = True  # a recorder carries the conversation (not the terminal softphone)
    words: Words | None = None  # a call from the terminal: each prompt's text, told before it plays
    callbacks: bool = True  # a callback can be placed to this caller (AMI, or its softphone line)


@dataclass
class SessionResult:
    call_id: str = ""
    ended_by: str = ""  # connect, transfer, hangup (engine), caller_hangup, error, drained
    error: str = ""


@dataclass(frozen=True)
class SessionSettings:
    env_timeout: float = 10.0  # the environment block must arrive within this
    reply_grace: float = 30.0  # a reply may take this long beyond the command's own time
    media: MediaSettings = field(default_factory=MediaSettings)


def call_started(
    env: dict[str, str], *, at: float, appeal: str | None, speech: bool, recording: bool = True,
    recorder: bool = True, callbacks: bool = True,
) -> e.CallStarted:
    """``agi_uniqueid``, ``agi_callerid``, ``agi_dnid``/``agi_extension``, ``agi_language``."""
    dialled = env.get("agi_dnid", "")
    if dialled in ("", "unknown"):
        dialled = env.get("agi_extension", "")
    caller = env.get("agi_callerid", "")
    return e.CallStarted(
        call_id=env.get("agi_uniqueid", "") or f"agi-{at:.6f}",
        caller="" if caller == "unknown" else caller,
        dialled=dialled,
        at=at,
        language=env.get("agi_language", "ru") or "ru",
        appeal=appeal,
        speech=speech,
        channel="asterisk",
        recording=recording,
        recorder=recorder,
        callbacks=callbacks,
    )


async def run_steps(steps: Steps, offload: Offload) -> list[a.MediaAction]:
    """Drive one engine step: inline until its first service call, then the rest of it in
    one offloaded piece (the service calls, the engine's steps on their answers, the
    call's end), so the loop and a pool thread wake once a step, not once a service call."""
    try:
        service = steps.send(None)
    except StopIteration as done:
        media: list[a.MediaAction] = done.value
        return media
    return await offload(partial(_finish_steps, steps, service))


def _finish_steps(steps: Steps, service: Callable[[], e.Event | None]) -> list[a.MediaAction]:
    try:
        while True:
            service = steps.send(service())
    except StopIteration as done:
        media: list[a.MediaAction] = done.value
        return media


async def run_session(
    conn: AgiConnection,
    factory: CallFactory,
    *,
    settings: SessionSettings | None = None,
    clock: Callable[[], float] = time.time,
    draining: Callable[[], bool] = lambda: False,
    offload: Offload = inline,
    speech_offload: Offload = inline,
    env_timeout: float | None = None,
    on_env: Callable[[], None] | None = None,
    wakes: HoldWakes | None = None,
) -> SessionResult:
    """Serve one FastAGI connection to the end; never raises; always closes ``conn``.

    ``draining()`` true: the call is handed back to the dialplan (``IVR_STATUS=handback``)
    at its next step.  ``env_timeout`` overrides the settings' for this call (the server
    shortens it under pressure); ``on_env`` is told when the environment block is in.
    ``wakes``: the server's calls on hold, this one among them while it runs.
    """
    settings = settings or SessionSettings()
    result = SessionResult()
    runner: Runner | None = None
    started = False  # runner.start returned: the engine holds a call state
    try:
        env = await read_env(conn, timeout=settings.env_timeout if env_timeout is None else env_timeout)
        if on_env is not None:
            on_env()
        channel = AgiChannel(conn, env, reply_grace=settings.reply_grace)
        setup = await offload(lambda: factory(env))
        runner = setup.runner
        started_event = call_started(env, at=clock(), appeal=setup.appeal,
                                     speech=setup.recognise is not None, recording=setup.recording,
                                     recorder=setup.recorder, callbacks=setup.callbacks)
        result.call_id = started_event.call_id
        caller = started_event.caller
        # the dialplan's word about a call it returns (resume) or that is over (hungup): not a new call
        word = env.get("agi_arg_1", "")
        log.info("call %s from %s%s", result.call_id, mask_phone(caller) if caller else "-",
                 f" ({word})" if word.isalpha() and len(word) <= 16 else "")
        known = {"CHANNEL(language)": env["agi_language"]} if env.get("agi_language") else {}
        if wakes is not None:
            wakes.opened(result.call_id, env.get("agi_channel", ""), conn.peer_host)
        player = MediaPlayer(channel, settings=settings.media, recognise=setup.recognise, clock=clock,
                             interrupted=draining, offload=speech_offload, known=known,
                             wakes=wakes, call_id=result.call_id, words=setup.words)
        actions = await run_steps(runner.start_steps(started_event), offload)
        started = True
        await player.set_variable("CHANNEL(language)", started_event.language)  # SAY DIGITS in Russian
        while True:
            event = await player.run(actions)
            if runner.done:
                result.ended_by = "engine"
                break
            if event is None:
                raise RuntimeError(f"the engine's actions did not wait for the caller: {actions!r}")
            if draining():
                await player.quiet()
                await player.set_variable("IVR_STATUS", "handback")
                result.ended_by = "drained"
                break
            actions = await run_steps(runner.handle_steps(event), offload)
    except CallEnded as end:
        result.ended_by = str(end)
    except AgiHangup:
        result.ended_by = "caller_hangup"
    except AgiError as exc:
        result.ended_by, result.error = "error", f"{type(exc).__name__}: {exc}"
        # Before its environment a connection is no call yet: a flood of idle ones (issue 19)
        # must not flood the log; they are counted (ivr_agi_errors_total) all the same.
        (log.info if result.call_id else log.debug)("call %s ended on a protocol error: %s",
                                                    result.call_id or "?", exc)
    except Exception as exc:  # a bug must not take the server down; the call is recorded
        result.ended_by, result.error = "error", f"{type(exc).__name__}: {exc}"
        log.exception("call %s failed", result.call_id or "?")
    finally:
        conn.close()  # first: the peer need not wait on the engine's bookkeeping
        if wakes is not None and result.call_id:
            wakes.closed(result.call_id)
        if runner is not None and started and not runner.done:
            try:
                await run_steps(runner.handle_steps(e.HungUp(clock())), offload)
            except Exception:
                log.exception("call %s: recording the hang-up failed", result.call_id or "?")
    return result
