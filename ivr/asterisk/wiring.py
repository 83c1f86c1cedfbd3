"""How the engine builds its Asterisk side: the FastAGI server (one call runner per
connection) and the AMI session (callbacks dialled, hand-overs followed)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

from ivr.asterisk.admission import AdmissionSettings, unreachable_hosts_warning
from ivr.asterisk.ami import AmiClient, Message
from ivr.asterisk.control import AsteriskControl
from ivr.asterisk.dialer import AsteriskCallbackDialer
from ivr.asterisk.handover import HUNG_UP, RESUME, HandoverWatcher, back_in_line, hung_up
from ivr.asterisk.media import MediaSettings
from ivr.asterisk.server import FastAgiServer
from ivr.asterisk.session import CallSetup, SessionResult, SessionSettings
from ivr.asterisk.spy import SpyWatcher
from ivr.asterisk.transfer import ConsultEvents, ConsultWatcher
from ivr.asterisk.wakes import HoldWakes, SendWake, ami_wake
from ivr.audit.logs import CONSOLE_ACCESS
from ivr.call import CallRunner
from ivr.console.audit import ConsoleAudit
from ivr.engine import Engine
from ivr.ops.feeds import FastAgiCollector
from ivr.prompts.accepted import AcceptedTexts
from ivr.softphone import wire
from ivr.softphone.dialer import SoftphoneDialer
from ivr.softphone.registry import SoftphoneRegistry
from ivr.speech.recogniser import Recogniser

log = logging.getLogger(__name__)
# The engine's speech modes, as the recogniser names them.
_MODES = {"yes_no": "yes_no", "keywords": "keywords", "digits": "digits", "name": "free"}

SpeechHook = Callable[[str, str, tuple[str, ...], str], "tuple[str, float] | None"]


def speech_hook(recogniser: Recogniser) -> SpeechHook:
    """The AGI media layer's view of the recogniser: a clip in, ``(text, confidence)`` out.

    "nothing" heard is an answer (an empty text: the engine asks again and keeps the
    clip); ``off``, ``busy`` and ``timeout`` are no answer at all (the engine treats
    them as silence and moves on to its key fallback).
    """

    def recognise(clip: str, mode: str, grammar: tuple[str, ...], language: str) -> tuple[str, float] | None:
        result = recogniser.recognise(clip, mode=_MODES[mode], language=language,  # type: ignore[arg-type]
                                      grammar=list(grammar) or None)
        if result.status == "heard":
            return result.text, result.confidence
        if result.status == "nothing":
            return "", 0.0
        return None

    return recognise


def session_settings(engine: Engine) -> SessionSettings:
    """``RECORD FILE`` into Asterisk's own clip folder, or into the one the engine uses instead
    on a machine without Asterisk (then the caller is the softphone, on this machine)."""
    if engine.record_dir is None:
        return SessionSettings()
    return SessionSettings(media=MediaSettings(record_dir=engine.record_dir))


def fastagi_server(engine: Engine, address: tuple[str, int]) -> FastAgiServer:
    """The FastAGI server; without AMI (no ``engine.dialers["asterisk"]`` yet) its callbacks
    go to ``ivr call`` softphones (:mod:`ivr.softphone`), the only callers then reachable."""
    hook = speech_hook(engine.recogniser) if engine.recogniser.available else None
    softphones = SoftphoneDialer(
        router=engine.router, registry=SoftphoneRegistry(redis=engine.redis, prefix=engine.config.redis.prefix),
        life=engine.call_life)
    engine.dialers.setdefault("asterisk", softphones)  # ami_services, before or after, replaces it
    engine.call_life.listeners.append(softphones.outcome)  # a softphone's missed call: it dials in again
    accepted = AcceptedTexts(engine.menus)  # the prompt texts the serving menus were accepted with

    def new_call(env: dict[str, str]) -> CallSetup:
        setup = call_setup(env)
        if engine.instances is not None:  # the call depends on this process from now on
            engine.instances.call_started(env.get("agi_uniqueid", ""))
        return setup

    def call_setup(env: dict[str, str]) -> CallSetup:
        services = engine.services()
        menu = engine.menus.for_number(env.get("agi_dnid", "") or env.get("agi_extension", ""))
        runner = CallRunner(menu=menu, services=services, clock=engine.clock, observer=engine.observer)
        # AMI originates to any number; a softphone dialer reaches only a softphone caller
        dialer = engine.dialers.get("asterisk")
        callbacks = dialer.takes_call(env) if isinstance(dialer, SoftphoneDialer) else dialer is not None
        recorder = not wire.from_terminal(env)
        words = None if recorder else accepted.text  # a terminal hears no sound file: it is told the words
        if env.get("agi_arg_1") == HUNG_UP:  # [operator-handover]'s h extension: the call is over
            return CallSetup(runner=hung_up(env, life=engine.call_life), recording=engine.recordings.enabled)
        if env.get("agi_arg_1") == RESUME:  # the dialplan returns a call its operator missed
            resumed = back_in_line(env, life=engine.call_life, menu=menu, services=services, clock=engine.clock,
                                   recording=engine.recordings.enabled, recorder=recorder, callbacks=callbacks,
                                   ami="asterisk" in engine.answer_events, observer=engine.observer)
            return CallSetup(runner=resumed, appeal=resumed.runner.state.context.appeal if resumed.runner.state
                             else None, recognise=hook, recording=engine.recordings.enabled, recorder=recorder,
                             words=words, callbacks=callbacks)
        return CallSetup(runner=runner, appeal=services.allocate_appeal(), recognise=hook,
                         recording=engine.recordings.enabled, recorder=recorder, words=words, callbacks=callbacks)

    def call_ended(result: SessionResult) -> None:
        engine.metrics.agi_call_ended(result)
        if engine.instances is not None:
            engine.instances.call_ended(result.call_id)

    wakes = HoldWakes(lambda host: hold_wake_sender(engine, host))
    engine.background.append(lambda: wakes.read_news(engine.router))
    speech, asterisk = engine.config.speech, engine.config.asterisk
    server = FastAgiServer(
        address[0],
        address[1],
        call_factory=new_call,
        max_calls=engine.config.engine.max_calls,
        clock=engine.clock,
        # the recogniser bounds itself (workers + queue, then "busy" at once): wait on no more
        speech_workers=speech.workers + speech.queue,
        on_call_end=call_ended,
        settings=session_settings(engine),
        admission=AdmissionSettings(allowed_hosts=asterisk.allowed_hosts, calls_per_host=asterisk.calls_per_host,
                                    waiting_per_host=asterisk.waiting_per_host,
                                    env_timeout_under_pressure=asterisk.env_timeout_under_pressure),
        wakes=wakes,
    )
    engine.metrics.registry.register(FastAgiCollector(server))
    if (warning := unreachable_hosts_warning(address[0], asterisk.allowed_hosts)) is not None:
        log.warning(warning)
    return server


def hold_wake_sender(engine: Engine, host: str) -> SendWake | None:
    """AMI's ``PlayDTMF`` for a call from ``host`` while the engine has AMI to that host and
    it is connected; None otherwise (the call's holds then last ``poll_seconds``)."""
    control = engine.live_controls.get("asterisk")
    if not isinstance(control, AsteriskControl) or not control.ami.connected or host not in control.ami.hosts:
        return None
    return ami_wake(control.ami)


def supervision_ended(engine: Engine) -> Callable[[str, str], object]:
    """A supervisor's leg hung up (AMI ``Hangup`` of an ``ivr-spy-`` handle): the supervision
    ends, audited in the console audit (:mod:`ivr.aftermenu.supervision`)."""
    from ivr.console.wiring import console_supervision  # the console's audit and its one way to end

    if engine.audit is None:
        return lambda handle, cause: log.warning("supervisor leg %s ended; no console audit to record it", handle)
    supervision = console_supervision(engine, audit=engine.audit.get(CONSOLE_ACCESS, ConsoleAudit))
    return supervision.ended


@dataclass
class AmiServices:
    ami: AmiClient
    dialer: AsteriskCallbackDialer
    handovers: HandoverWatcher

    def close(self) -> None:
        self.ami.close()


#: The AMI events the engine acts on: a hand-over answered or missed (``DialEnd``), a
#: caller, operator or supervisor gone (``Hangup``), a callback's operator leg refused
#: (``OriginateResponse``), a warm transfer's consultation (``UserEvent`` IvrConsult).  The
#: shipped manager.conf lets only these through to the engine's user (``eventfilter``).
ENGINE_EVENTS = frozenset({"DialEnd", "Hangup", "OriginateResponse", "UserEvent"})


def ami_services(engine: Engine, *, host: str, port: int, username: str, secret: str) -> AmiServices:
    """Log in to AMI; the engine's due callbacks are dialled through it (``engine.dialers["asterisk"]``)
    and its events tell routing what became of hand-overs and callbacks."""
    dialer = AsteriskCallbackDialer(router=engine.router, life=engine.call_life)
    handovers = HandoverWatcher(router=engine.router, life=engine.call_life)
    consult_events = ConsultEvents()
    # The next operator's phone did not answer the consultation: routing releases him.
    consults = ConsultWatcher(cancel=engine.call_life.consult_not_answered)

    spies = SpyWatcher(ended=supervision_ended(engine))

    def on_event(event: Message) -> None:
        if event.get("Event") not in ENGINE_EVENTS:
            return  # an Asterisk whose manager.conf has no eventfilter lines sends every call event
        dialer.on_event(event)
        handovers.on_event(event)
        spies.on_event(event)
        consult_events.on_event(event)
        consults.on_event(event)

    ami = AmiClient(host, port, username=username, secret=secret, on_event=on_event)
    dialer.ami = ami
    engine.dialers["asterisk"] = dialer
    engine.answer_events.add("asterisk")  # DialEnd: the hand-over watcher moves the call
    engine.live_controls["asterisk"] = AsteriskControl(ami=ami, consult_events=consult_events)
    return AmiServices(ami=ami, dialer=dialer, handovers=handovers)
