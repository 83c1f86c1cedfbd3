"""One call over FastAGI: from the environment block to the closed socket.

    env block -> CallStarted -> CallRunner.start -> [media actions -> event -> runner.handle]*

Whatever ends the call (the menu finished, the caller hung up, a protocol error, a
bug), the runner is told ``HungUp`` if it is not done yet, so the engine records the
abandonment at the node where the caller was and leaves the queue; and the socket
is closed, because Asterisk never closes it.
"""

from __future__ import annotations

import logging
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from ivr.asterisk.agi import AgiError, AgiHangup
from ivr.asterisk.channel import AgiChannel
from ivr.asterisk.media import CallEnded, MediaPlayer, MediaSettings, Recogniser
from ivr.flow import actions as a
from ivr.flow import events as e
from ivr.identity import mask_phone
from ivr.ops.context import bind_call, unbind

log = logging.getLogger(__name__)


class Runner(Protocol):
    """What a session needs of :class:`ivr.call.CallRunner`."""

    @property
    def done(self) -> bool: ...

    def start(self, event: e.CallStarted) -> list[a.MediaAction]: ...

    def handle(self, event: e.Event) -> list[a.MediaAction]: ...


# The composition root gives the server one of these: env -> a fresh runner for the call.
CallFactory = Callable[[dict[str, str]], "CallSetup"]


@dataclass(frozen=True)
class CallSetup:
    """What the composition root builds for one call."""

    runner: Runner
    appeal: str | None = None  # services.allocate_appeal()
    recognise: Recogniser | None = None  # None: speech off for this call


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


def call_started(env: dict[str, str], *, at: float, appeal: str | None, speech: bool) -> e.CallStarted:
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
    )


def run_session(
    sock: socket.socket,
    factory: CallFactory,
    *,
    settings: SessionSettings | None = None,
    clock: Callable[[], float] = time.time,
    draining: threading.Event | None = None,
) -> SessionResult:
    """Serve one FastAGI connection to the end; never raises; always closes ``sock``."""
    settings = settings or SessionSettings()
    result = SessionResult()
    channel: AgiChannel | None = None
    runner: Runner | None = None
    started = False  # runner.start returned: the engine holds a call state
    bound = None  # the call's log scope: every line of this call carries its id
    try:
        channel = AgiChannel(sock, env_timeout=settings.env_timeout, reply_grace=settings.reply_grace)
        setup = factory(channel.env)
        runner = setup.runner
        started_event = call_started(channel.env, at=clock(), appeal=setup.appeal,
                                     speech=setup.recognise is not None)
        result.call_id = started_event.call_id
        bound = bind_call(result.call_id)
        caller = started_event.caller
        log.info("call %s from %s", result.call_id, mask_phone(caller) if caller else "-")
        player = MediaPlayer(channel, settings=settings.media, recognise=setup.recognise, clock=clock,
                             interrupted=draining.is_set if draining is not None else lambda: False)
        actions = runner.start(started_event)
        started = True
        channel.set_variable("CHANNEL(language)", started_event.language)  # SAY DIGITS in Russian
        while True:
            event = player.run(actions)
            if runner.done:
                result.ended_by = "engine"
                break
            if event is None:
                raise RuntimeError(f"the engine's actions did not wait for the caller: {actions!r}")
            if draining is not None and draining.is_set():
                channel.set_variable("IVR_STATUS", "handback")
                result.ended_by = "drained"
                break
            actions = runner.handle(event)
    except CallEnded as end:
        result.ended_by = str(end)
    except AgiHangup:
        result.ended_by = "caller_hangup"
    except AgiError as exc:
        result.ended_by, result.error = "error", f"{type(exc).__name__}: {exc}"
        log.info("call %s ended on a protocol error: %s", result.call_id or "?", exc)
    except Exception as exc:  # a bug must not take the server down; the call is recorded
        result.ended_by, result.error = "error", f"{type(exc).__name__}: {exc}"
        log.exception("call %s failed", result.call_id or "?")
    finally:
        if runner is not None and started and not runner.done:
            try:
                runner.handle(e.HungUp(clock()))
            except Exception:
                log.exception("call %s: recording the hang-up failed", result.call_id or "?")
        if channel is not None:
            channel.close()
        else:
            _close(sock)
        if bound is not None:
            unbind(bound)
    return result


def _close(sock: socket.socket) -> None:
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
    sock.close()
