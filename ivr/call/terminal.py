"""A terminal softphone that drives the engine in this process.

It prints what the caller would hear and reads what the caller does: keys
(``1``, ``7701...#``), ``say <text>`` for speech, ``rec`` for a recorded clip,
an empty line for silence, ``bye`` to hang up.  The queue answers from a
scripted world (position 3, callback offered, an operator after three polls).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TextIO

from ivr.call.runner import CallRunner
from ivr.flow import actions as a
from ivr.flow import events as e
from ivr.menu.model import Menu
from ivr.prompts.catalog import PromptCatalog
from ivr.scenarios.world import ScriptedWorld, WorldScript


def describe(action: a.MediaAction, prompts: PromptCatalog) -> list[str]:
    """What the caller hears (or what happens) for one media action, as lines."""
    def say(p: a.Play | a.SayDigits | a.SayNumber) -> str:
        if isinstance(p, a.Play):
            return f"  ♪ [{p.prompt}] {prompts.text(p.prompt, p.language) or ''}"
        if isinstance(p, a.SayDigits):
            return f"  ♪ (digits) {' '.join(p.digits)}"
        return f"  ♪ (number) {p.number}"

    if isinstance(action, (a.Play, a.SayDigits, a.SayNumber)):
        return [say(action)]
    if isinstance(action, (a.CollectDigits, a.CollectSpeech, a.Record)):
        lines = [say(p) for p in action.prompts]
        kind = {a.CollectDigits: "keys", a.CollectSpeech: "speech or keys", a.Record: "recording"}
        return [*lines, f"  … waiting for {kind[type(action)]}"]
    if isinstance(action, a.HoldMusic):
        return [f"  ♫ music on hold ({action.seconds:g} s)"]
    if isinstance(action, a.Connect):
        return [f"  ☎ connected to operator {action.operator} ({action.endpoint}), recording: {action.record}"]
    if isinstance(action, a.Transfer):
        return [f"  ☎ transferred to {action.target}"]
    if isinstance(action, a.Hangup):
        return ["  ☎ the line hangs up"]
    return []


def run_terminal_call(
    menu: Menu,
    prompts: PromptCatalog,
    *,
    read: Callable[[str], str],
    out: TextIO,
    caller: str = "+79990000001",
    clock: Callable[[], float] = time.time,
) -> int:
    world = ScriptedWorld(WorldScript(operator_after_polls=3))
    runner = CallRunner(menu=menu, services=world, clock=clock)
    media = runner.start(e.CallStarted("terminal", caller, "88005553535", clock(), appeal="0000000182"))
    while True:
        for action in media:
            for line in describe(action, prompts):
                print(line, file=out)
        if runner.done or runner.state is None:
            break
        try:
            typed = read("caller> ").strip()
        except EOFError:
            typed = "bye"
        now = clock()
        if typed == "bye":
            event: e.Event = e.HungUp(now)
        elif typed.startswith("say "):
            event = e.SpeechHeard(typed[4:], 0.95, now, clip="terminal-clip")
        elif typed == "rec":
            event = e.Recorded("terminal-clip", now)
        elif typed == "":
            event = e.NoInput(now)
        else:
            event = e.DigitsEntered(typed, now)
        media = runner.handle(event)
    ctx = runner.state.context if runner.state else None
    if ctx is not None:
        print("\nCollected:", file=out)
        for key in ("language", "inn", "snils", "topic", "queue", "outcome", "callback_number", "appeal"):
            print(f"  {key}: {getattr(ctx, key)}", file=out)
        print(f"  name: {ctx.name}", file=out)
        print(f"  consent: {ctx.consent}", file=out)
        print("  path: " + " → ".join(f"{s.node}({s.exit or ''})" for s in ctx.path), file=out)
    return 0
