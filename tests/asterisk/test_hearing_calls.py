"""What a caller hears over FastAGI, with the fake Asterisk on loopback TCP (issue 17:
the chosen language, music on hold, a skipped name)."""

from __future__ import annotations

import threading
import time

from fake_asterisk import FakeCall, ScriptedCaller
from harness import NOON, SETTINGS, Harness
from world import World

from ivr.asterisk.peer import AsteriskPeer, CallerHangsUp, default_env, dial
from ivr.asterisk.server import FastAgiServer
from ivr.asterisk.session import CallSetup
from ivr.call import CallRunner


def commands(call: FakeCall) -> list[str]:
    return [line[3:] for line in call.transcript if line.startswith(">> ")]


def test_a_name_skipped_with_hash_leaves_no_name_clip(harness: Harness) -> None:
    # '#' at the name: Asterisk answers "200 result=35 (dtmf) endpos=0" (a 44-byte file)
    call = FakeCall(caller=ScriptedCaller("1" + "#" + "0" + "1", name_key="#")).run(harness.address)
    assert any(c.startswith("RECORD FILE ") for c in commands(call))
    assert "<< 200 result=35 (dtmf) endpos=0" in call.transcript
    harness.wait_idle()
    ctx = harness.world.ended["1795312804.30"]
    assert ctx.name is None
    assert [(s.exit, s.detail) for s in ctx.path if s.node == "ask_name"] == [("key", "skipped")]


def test_a_spoken_name_is_kept_as_a_clip(harness: Harness) -> None:
    call = FakeCall(caller=ScriptedCaller("1" + "#" + "0" + "1")).run(harness.address)
    assert call.closed_by_server
    harness.wait_idle()
    ctx = harness.world.ended["1795312804.30"]
    assert ctx.name is not None and ctx.name.clip and ctx.name.clip.endswith("-ask_name")


class HoldingCaller:
    """A caller on a virtual clock: a prompt takes 2 s, a ``WAIT FOR DIGIT`` its whole
    time (as on a real Asterisk when nothing is pressed).  Walks to the queue with
    ``keys``, then holds for ``hold`` seconds and hangs up."""

    def __init__(self, keys: str, clock: list[float], hold: float) -> None:
        self.keys = list(keys)
        self.clock = clock
        self.hold = hold
        self.queued_at: float | None = None

    def _passes(self, seconds: float) -> None:
        self.clock[0] += seconds
        if self.queued_at is not None and self.clock[0] >= self.queued_at + self.hold:
            raise CallerHangsUp

    def hear(self, kind: str, what: str, escape: str) -> str | None:
        self._passes(2.0)
        return None

    def wait_key(self, ms: int) -> str | None:
        if self.keys:
            return self.keys.pop(0)
        self._passes(ms / 1000)
        return None

    def speak(self, max_ms: int, escape: str) -> str | None:
        self._passes(3.0)
        return None

    def event(self, text: str) -> None:
        if text.startswith("IVR_QUEUE="):
            self.queued_at = self.clock[0]


def test_hold_music_plays_on_between_announcements_and_the_wait_costs_few_commands(menu) -> None:  # type: ignore[no-untyped-def]
    clock = [NOON]
    world = World(polls_until_operator=None)  # nobody answers: ten minutes on hold
    factory_clock = lambda: clock[0]

    def factory(env: dict[str, str]) -> CallSetup:
        return CallSetup(runner=CallRunner(menu=menu, services=world, clock=factory_clock),
                         appeal=world.allocate_appeal())

    server = FastAgiServer("127.0.0.1", 0, call_factory=factory, clock=factory_clock, settings=SETTINGS)
    server.start()
    caller = HoldingCaller("1" + "#" + "0" + "1", clock, hold=600.0)
    sent: list[tuple[float, str]] = []
    try:
        peer = AsteriskPeer(caller, env=default_env(caller="79990000001"))
        dial(*server.address, peer, default_env(caller="79990000001"), timeout=20,
             on_line=lambda way, line: sent.append((clock[0], line)) if way == ">>" else None)
    finally:
        server.shutdown(1)
    assert caller.queued_at is not None
    waiting = [line for at, line in sent if at >= caller.queued_at]
    minutes = 600.0 / 60
    announcements = sum(1 for line in waiting if line.startswith("STREAM FILE ivr/ru/queue.position"))
    starts = [i for i, line in enumerate(waiting) if line.startswith("EXEC StartMusicOnHold")]
    stops = [i for i, line in enumerate(waiting) if line.startswith("EXEC StopMusicOnHold")]
    holding = [line for line in waiting if line.startswith(("WAIT FOR DIGIT", "EXEC StartMusicOnHold",
                                                              "EXEC StopMusicOnHold"))]
    # 45 s between announcements: 13 or 14 in ten minutes, the music started once after each
    assert 12 <= announcements <= 15, waiting
    assert len(starts) == announcements
    # every stop is for an announcement: the next command plays it
    assert all(waiting[i + 1].startswith("STREAM FILE ivr/ru/queue.position") for i in stops), waiting
    # one WAIT FOR DIGIT per poll_seconds (5 s) and the music's start and stop: not 3 a second
    assert len(holding) / minutes <= 16, (len(holding), waiting[:40])
    assert len(waiting) / minutes <= 25
    print(f"\nper minute on hold: {len(waiting) / minutes:.1f} commands, {len(holding) / minutes:.1f} for the hold; "
          f"{announcements} announcements, {len(starts)} music starts in {minutes:.0f} min")


class PatientCaller(ScriptedCaller):
    """Walks to the queue with its keys, then holds: each ``WAIT FOR DIGIT`` takes its whole
    time, in real time, as on a real Asterisk when nothing is pressed."""

    def wait_key(self, ms: int) -> str | None:
        if self.keys:
            return super().wait_key(ms)
        time.sleep(ms / 1000)
        return None


def test_a_call_on_hold_is_handed_back_at_shutdown_after_its_hold(menu) -> None:  # type: ignore[no-untyped-def]
    h = Harness(menu, World())
    call = FakeCall(caller=PatientCaller("1" + "#" + "0" + "1", then_hang_up=False))
    runner = threading.Thread(target=call.run, args=(h.address,))
    runner.start()
    deadline = time.monotonic() + 10
    while not any("StartMusicOnHold" in x for x in call.transcript) and time.monotonic() < deadline:
        time.sleep(0.01)
    h.server.shutdown(6.0)  # the drain ends in the middle of a 5 s hold
    runner.join(10)
    sent = commands(call)
    assert 'SET VARIABLE "IVR_STATUS" "handback"' in sent, sent[-6:]
    assert sent[sent.index('SET VARIABLE "IVR_STATUS" "handback"') - 1].startswith("EXEC StopMusicOnHold")
