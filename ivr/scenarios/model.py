"""Menu scenarios as supervisors write them: keys and speech in, prompts and context out.

A file ``dialplans/<menu>.scenarios.yaml``::

    menu: hotline
    at: "2026-11-18T10:00:00+03:00"     # the moment calls start (opening hours!)
    scenarios:
      - name: ИНН mistyped, then corrected
        world: {position: 2, offer_callback: false}
        steps:
          - hear: [welcome, language.choose]     # what the call starts with
          - press: "1"
          - record: name                          # the caller says a name (speech off)
          - press: "000000000000#"
            hear: [invalid.checksum]
          ...
        expect:
          inn: "..."
          outcome: queued
          enqueue: {queue: signin}

A step is one of ``press``, ``say`` (with ``confidence``), ``record``,
``silence``, ``hangup``; ``hear`` lists prompt ids that must be played in
response, in order; ``after`` is the seconds since the previous step (default 2).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ivr.scenarios.world import WorldScript


@dataclass(frozen=True)
class ScenarioStep:
    press: str | None = None
    say: str | None = None
    confidence: float = 0.9
    record: str | None = None
    silence: bool = False
    hangup: bool = False
    hear: tuple[str, ...] = ()
    not_hear: tuple[str, ...] = ()
    node: str | None = None  # the node the call must be at after the step
    after: float = 2.0


@dataclass(frozen=True)
class Scenario:
    name: str
    steps: tuple[ScenarioStep, ...]
    expect: Mapping[str, Any] = field(default_factory=dict)
    caller: str = "+79990000001"
    dialled: str = "88005553535"
    language: str = "ru"
    speech: bool = False
    at: str | None = None
    world: WorldScript = field(default_factory=WorldScript)


@dataclass(frozen=True)
class ScenarioFile:
    menu: str
    scenarios: tuple[Scenario, ...]
    at: str = "2026-11-18T10:00:00+03:00"
