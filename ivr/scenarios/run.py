"""Run menu scenarios through the real flow engine and report what differs."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ivr.call.runner import CallRunner
from ivr.config.convert import Converter, Problem
from ivr.config.errors import ConfigError
from ivr.flow import actions as a
from ivr.flow import events as e
from ivr.flow.context import CallContext
from ivr.menu.model import Menu
from ivr.scenarios.model import Scenario, ScenarioFile, ScenarioStep
from ivr.scenarios.world import ScriptedWorld
from ivr.yamlsrc import YamlError, load_yaml


@dataclass(frozen=True)
class ScenarioResult:
    file: str
    name: str
    failures: tuple[str, ...]
    heard: tuple[str, ...]
    context: CallContext | None

    @property
    def passed(self) -> bool:
        return not self.failures


def load_scenarios(path: str | Path) -> ScenarioFile:
    try:
        doc = load_yaml(path)
    except YamlError as exc:
        raise ConfigError([Problem(exc.source, exc.line, exc.message)]) from None
    converter = Converter(doc)
    loaded = converter.build(ScenarioFile)
    if loaded is None or converter.problems:
        raise ConfigError(converter.problems)
    return loaded


def run_file(path: str | Path, menus: Mapping[str, Menu]) -> list[ScenarioResult]:
    loaded = load_scenarios(path)
    menu = menus.get(loaded.menu)
    if menu is None:
        raise ConfigError([Problem(str(path), 1, f"scenarios name unknown menu '{loaded.menu}'")])
    return [run_scenario(menu, scenario, default_at=loaded.at, file=str(path)) for scenario in loaded.scenarios]


def run_scenario(menu: Menu, scenario: Scenario, *, default_at: str, file: str = "") -> ScenarioResult:
    now = [dt.datetime.fromisoformat(scenario.at or default_at).timestamp()]
    world = ScriptedWorld(scenario.world)
    runner = CallRunner(menu=menu, services=world, clock=lambda: now[0])
    failures: list[str] = []
    heard: list[str] = []
    steps = list(scenario.steps)
    first = steps.pop(0) if steps and _is_listen_only(steps[0]) else ScenarioStep()
    started = e.CallStarted(
        call_id=f"scenario-{abs(hash(scenario.name)) % 10**8}",
        caller=scenario.caller,
        dialled=scenario.dialled,
        at=now[0],
        language=scenario.language,
        appeal=world.allocate_appeal(),
        speech=scenario.speech,
    )
    media = runner.start(started)
    _check(first, 0, media, runner, failures, heard)
    for index, step in enumerate(steps, start=1):
        if runner.done:
            failures.append(f"step {index}: the call already ended")
            break
        now[0] += step.after
        event = _event(step, now[0], media)
        media = runner.handle(event)
        _check(step, index, media, runner, failures, heard)
    ctx = runner.state.context if runner.state else None
    if ctx is not None:
        failures.extend(_expectations(scenario.expect, ctx, world, media))
    return ScenarioResult(file, scenario.name, tuple(failures), tuple(heard), ctx)


def _is_listen_only(step: ScenarioStep) -> bool:
    return not (step.press or step.say or step.record or step.silence or step.hangup)


def _event(step: ScenarioStep, at: float, last: list[a.MediaAction]) -> e.Event:
    if step.hangup:
        return e.HungUp(at)
    if step.press is not None:
        return e.DigitsEntered(step.press, at)
    if step.say is not None:
        return e.SpeechHeard(step.say, step.confidence, at, clip="scenario-clip")
    if step.record is not None:
        return e.Recorded(step.record, at)
    return e.NoInput(at)


def _prompts(media: Iterable[a.MediaAction]) -> list[str]:
    out: list[str] = []
    for action in media:
        if isinstance(action, a.Play):
            out.append(action.prompt)
        elif isinstance(action, (a.CollectDigits, a.CollectSpeech, a.Record)):
            out.extend(p.prompt for p in action.prompts if isinstance(p, a.Play))
    return out


def _check(
    step: ScenarioStep, index: int, media: list[a.MediaAction], runner: CallRunner,
    failures: list[str], heard: list[str],
) -> None:
    played = _prompts(media)
    heard.extend(played)
    position = 0
    for prompt in step.hear:
        try:
            position = played.index(prompt, position) + 1
        except ValueError:
            failures.append(f"step {index}: expected to hear '{prompt}', heard {played}")
            break
    for prompt in step.not_hear:
        if prompt in played:
            failures.append(f"step {index}: did not expect to hear '{prompt}'")
    if step.node is not None and runner.state is not None and runner.state.node != step.node:
        failures.append(f"step {index}: expected to be at node '{step.node}', at '{runner.state.node}'")


def _expectations(
    expect: Mapping[str, Any], ctx: CallContext, world: ScriptedWorld, media: list[a.MediaAction]
) -> list[str]:
    failures: list[str] = []
    values: dict[str, Any] = ctx.to_dict()
    values["consent"] = None if ctx.consent is None else ctx.consent.granted
    values["name"] = None if ctx.name is None else ctx.name.text
    values["name_clip"] = None if ctx.name is None else ctx.name.clip
    values["path"] = [step.node for step in ctx.path]
    values["failures"] = [f"{step.node}:{f}" for step in ctx.path for f in step.failures]
    values["last"] = type(media[-1]).__name__.lower() if media else None
    values["left_queue"] = world.left_queue
    values["callbacks"] = world.callbacks
    for key, wanted in expect.items():
        if key == "enqueue":
            failures.extend(_expect_enqueue(wanted, world))
            continue
        if key not in values:
            failures.append(f"expect: unknown field '{key}'")
            continue
        got = values[key]
        if isinstance(got, tuple):
            got = list(got)
        if got != wanted:
            failures.append(f"expected {key} = {wanted!r}, got {got!r}")
    return failures


def _expect_enqueue(wanted: Any, world: ScriptedWorld) -> list[str]:
    if wanted is None or wanted is False:
        return [f"expected no enqueue, got {world.enqueued[-1].queue!r}"] if world.enqueued else []
    if not world.enqueued:
        return ["expected the call to be queued; it was not"]
    action = world.enqueued[-1]
    got = {"queue": action.queue, "priority": action.priority, "skills": list(action.skills),
           "language": action.language}
    return [f"expected enqueue {k} = {v!r}, got {got.get(k)!r}" for k, v in dict(wanted).items()
            if got.get(k) != v]
