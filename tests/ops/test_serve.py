"""``serve`` in this process: up, start-up objects frozen for the collector, stopped cleanly."""

from __future__ import annotations

import gc
import threading

from ivr.asterisk.wiring import fastagi_server
from ivr.serve import serve


def test_serve_freezes_what_start_up_built_and_stops_on_request(make_engine) -> None:  # type: ignore[no-untyped-def]
    engine = make_engine()
    server = fastagi_server(engine, ("127.0.0.1", 0))
    stop = threading.Event()
    frozen: list[int] = []

    def ready() -> None:
        frozen.append(gc.get_freeze_count())
        stop.set()

    gc.unfreeze()
    try:
        assert serve(engine, http=("127.0.0.1", 0), call_servers=[server], stop=stop,
                     install_signals=False, on_ready=ready) == 0
    finally:
        gc.unfreeze()  # the rest of the test session collects as usual
    assert frozen and frozen[0] > 10_000  # the engine, its menus and libraries
