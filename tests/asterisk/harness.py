"""The FastAGI server on an in-memory world, for the fast tier's calls over loopback.

A module of its own, not ``conftest``: a test file that imports ``conftest`` gets whichever
``conftest`` was imported first in the run (tests/integration has one too).
"""

from __future__ import annotations

import calendar
import time

from world import World

from ivr.asterisk.media import MediaSettings
from ivr.asterisk.server import FastAgiServer
from ivr.asterisk.session import CallSetup, SessionResult, SessionSettings
from ivr.call import CallRunner

SETTINGS = SessionSettings(env_timeout=2.0, reply_grace=2.0, media=MediaSettings(prompt_seconds=0.5))
# A Wednesday, 12:00 in Moscow: every topic queue is open.
NOON = calendar.timegm((2026, 3, 18, 9, 0, 0))


class Harness:
    def __init__(self, menu, world: World, **server_kw) -> None:  # type: ignore[no-untyped-def]
        t0 = time.monotonic()
        self.clock = lambda: NOON + (time.monotonic() - t0)
        self.world = world
        self.results: list[SessionResult] = []
        settings = server_kw.pop("settings", SETTINGS)
        words = server_kw.pop("words", None)  # a terminal's calls: the engine tells each prompt's text

        def factory(env: dict[str, str]) -> CallSetup:
            runner = CallRunner(menu=menu, services=world, clock=self.clock)
            return CallSetup(runner=runner, appeal=world.allocate_appeal(), words=words)

        self.server = FastAgiServer("127.0.0.1", 0, call_factory=factory, clock=self.clock,
                                    settings=settings, on_call_end=self.results.append, **server_kw)
        self.server.start()
        self.address = self.server.address

    def wait_idle(self, timeout: float = 10.0) -> None:
        deadline = time.monotonic() + timeout
        while self.server.active_calls and time.monotonic() < deadline:
            time.sleep(0.01)
