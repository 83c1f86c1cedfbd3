"""How the engine builds its FastAGI server: one call runner per Asterisk connection."""

from __future__ import annotations

from ivr.asterisk.server import FastAgiServer
from ivr.asterisk.session import CallSetup, SessionResult
from ivr.call import CallRunner
from ivr.engine import Engine
from ivr.ops.feeds import FastAgiCollector


def fastagi_server(engine: Engine, address: tuple[str, int]) -> FastAgiServer:
    def new_call(env: dict[str, str]) -> CallSetup:
        services = engine.services()
        menu = engine.menus.for_number(env.get("agi_dnid", "") or env.get("agi_extension", ""))
        runner = CallRunner(menu=menu, services=services, clock=engine.clock, observer=engine.observer)
        recognise = engine.recogniser if engine.recogniser.available else None
        return CallSetup(runner=runner, appeal=services.allocate_appeal(), recognise=recognise)

    def call_ended(result: SessionResult) -> None:
        engine.metrics.agi_call_ended(result)
        if engine.instances is not None:
            engine.instances.call_ended(result.call_id)

    server = FastAgiServer(
        address[0],
        address[1],
        call_factory=new_call,
        max_calls=engine.config.engine.max_calls,
        clock=engine.clock,
        on_call_end=call_ended,
    )
    engine.metrics.registry.register(FastAgiCollector(server))
    return server
