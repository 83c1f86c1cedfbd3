"""How the engine builds its FastAGI server: one call runner per Asterisk connection."""

from __future__ import annotations

from collections.abc import Sequence

from ivr.asterisk import media
from ivr.asterisk.server import FastAgiServer
from ivr.asterisk.session import CallSetup
from ivr.call import CallRunner
from ivr.engine import Engine
from ivr.speech.grammar import Mode
from ivr.speech.recogniser import Recogniser

# the flow engine's speech modes -> the recogniser's (a name is free speech)
SPEECH_MODES: dict[str, Mode] = {"yes_no": "yes_no", "keywords": "keywords", "digits": "digits"}


def speech_for_calls(recogniser: Recogniser) -> media.Recogniser:
    """The recogniser as the media player calls it: ``(clip, mode, grammar, language)`` ->
    ``(text, confidence)``, or None when nothing usable was heard (silence, busy, timeout)."""

    def recognise(clip: str, mode: str, grammar: Sequence[str], language: str) -> tuple[str, float] | None:
        heard = recogniser.recognise(clip, mode=SPEECH_MODES.get(mode, "free"), language=language,
                                     grammar=list(grammar) or None)
        return (heard.text, heard.confidence) if heard.status == "heard" else None

    return recognise


def fastagi_server(engine: Engine, address: tuple[str, int]) -> FastAgiServer:
    recognise = speech_for_calls(engine.recogniser)

    def new_call(env: dict[str, str]) -> CallSetup:
        services = engine.services()
        menu = engine.menus.for_number(env.get("agi_dnid", "") or env.get("agi_extension", ""))
        runner = CallRunner(menu=menu, services=services, clock=engine.clock)
        speech = recognise if engine.recogniser.available else None
        return CallSetup(runner=runner, appeal=services.allocate_appeal(), recognise=speech)

    speech = engine.config.speech
    return FastAgiServer(
        address[0],
        address[1],
        call_factory=new_call,
        max_calls=engine.config.engine.max_calls,
        clock=engine.clock,
        # the recogniser bounds itself (workers + queue, then "busy" at once): wait on no more
        speech_workers=speech.workers + speech.queue,
    )
