"""How much one event costs the flow engine, walking the shipped hotline menu.

    .venv/bin/python bench/engine_bench.py [--calls N]

Every shipped scenario is replayed as fast as possible; the cost per event is
reported as a ratio to a baseline measured in the same run (one
``dataclasses.replace`` of a call context plus one dict lookup: the least an
immutable state machine can do per event), and in microseconds against the
issue's target (well under a millisecond per event).
"""

from __future__ import annotations

import argparse
import dataclasses
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from ivr.config import load_config
from ivr.flow import events as e
from ivr.flow.context import CallContext
from ivr.flow.engine import start, step
from ivr.menu.registry import load_menus, scenario_files
from ivr.prompts.catalog import load_catalog
from ivr.scenarios.run import _event, load_scenarios


def baseline(rounds: int) -> float:
    ctx = CallContext("c", "+79990000001", "88005553535", 0.0)
    table = {"a": 1}
    begin = time.perf_counter()
    for i in range(rounds):
        ctx = dataclasses.replace(ctx, priority=i)
        table.get("a")
    return (time.perf_counter() - begin) / rounds


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--calls", type=int, default=3000)
    args = parser.parse_args()
    config = load_config(ROOT / "config.yaml")
    catalog, _ = load_catalog(config.path(config.prompts.dir))
    menu = load_menus(config, catalog)["hotline"]
    loaded = load_scenarios(scenario_files(config)[0])
    scripts = []
    for scenario in loaded.scenarios:
        steps = [s for s in scenario.steps if s.press or s.say or s.record or s.silence or s.hangup]
        scripts.append((scenario, steps))

    samples: list[float] = []
    events = 0
    calls = 0
    begin = time.perf_counter()
    while calls < args.calls:
        for scenario, steps in scripts:
            t = 1_795_500_000.0
            state, _ = start(menu, e.CallStarted("b", scenario.caller, "88005553535", t, speech=scenario.speech))
            for s in steps:
                t += 2
                event = _event(s, t, [])
                tick = time.perf_counter()
                state, _ = step(menu, state, event)
                samples.append(time.perf_counter() - tick)
                events += 1
                if state.done:
                    break
            calls += 1
    elapsed = time.perf_counter() - begin
    base = statistics.median(baseline(20000) for _ in range(5))
    samples.sort()
    p50, p99 = samples[len(samples) // 2], samples[int(len(samples) * 0.99)]
    print(f"calls walked: {calls}, events: {events}, wall time {elapsed:.2f} s")
    print(f"baseline (context replace + lookup): {base * 1e6:.2f} µs")
    print(f"engine step p50: {p50 * 1e6:.1f} µs = {p50 / base:.1f}x baseline, {p50 / 1e-3:.3f} of 1 ms")
    print(f"engine step p99: {p99 * 1e6:.1f} µs = {p99 / base:.1f}x baseline, {p99 / 1e-3:.3f} of 1 ms")


if __name__ == "__main__":
    main()
