"""The flow engine: pure, deterministic, total (never raises on any event sequence)."""

from __future__ import annotations

import json
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from ivr.config import Config
from ivr.flow import CallState, start, step
from ivr.flow import actions as a
from ivr.flow import events as e
from ivr.flow.context import CallContext
from ivr.menu import Menu
from ivr.menu.registry import scenario_files
from ivr.scenarios import run_file
from ivr.scenarios.run import load_scenarios, run_scenario

T0 = 1_795_500_000.0  # 2026-11-23 Monday ~ 10:40 Moscow


def begin(menu: Menu, **kw: object) -> tuple[CallState, tuple[a.Action, ...]]:
    event = e.CallStarted("call-1", "+79990000001", "88005553535", T0, appeal="0000000182", **kw)  # type: ignore[arg-type]
    return start(menu, event)


def test_the_call_starts_with_the_greeting_and_barge_in(hotline: Menu) -> None:
    state, actions = begin(hotline)
    assert actions[0] == a.SetVariable("IVR_APPEAL", "0000000182")
    assert actions[1] == a.Play("welcome", "ru", barge_in=True)
    collect = actions[-1]
    assert isinstance(collect, a.CollectDigits) and collect.prompts[0] == a.Play("language.choose", "ru")
    assert state.node == "language" and [s.node for s in state.context.path] == ["welcome", "language"]


def test_the_same_events_give_the_same_result(hotline: Menu) -> None:
    events = [e.DigitsEntered("1", T0 + 1), e.Recorded("clip", T0 + 4), e.DigitsEntered("000082246517#", T0 + 9)]
    runs = []
    for _ in range(2):
        state, _ = begin(hotline)
        outputs = []
        for event in events:
            state, actions = step(hotline, state, event)
            outputs.append(actions)
        runs.append((state, outputs))
    assert runs[0] == runs[1]


def test_the_path_records_times_exits_and_failures(hotline: Menu) -> None:
    state, _ = begin(hotline)
    state, _ = step(hotline, state, e.DigitsEntered("1", T0 + 2))
    state, _ = step(hotline, state, e.Recorded("clip", T0 + 5))
    state, _ = step(hotline, state, e.DigitsEntered("000082246518#", T0 + 12))
    step_ = state.context.path[-1]
    assert (step_.node, step_.entered, step_.left, step_.failures) == ("ask_number", T0 + 5, None, ("checksum",))
    language = state.context.path[1]
    assert (language.exit, language.detail, language.left) == ("key", "1", T0 + 2)


def test_state_survives_json_between_requests(hotline: Menu) -> None:
    state, _ = begin(hotline)
    for event in [e.DigitsEntered("1", T0 + 1), e.Recorded("c", T0 + 2), e.DigitsEntered("000082246517#", T0 + 3)]:
        state, _ = step(hotline, state, event)
    copy = CallState.from_dict(json.loads(json.dumps(state.to_dict())))
    assert copy == state
    assert step(hotline, copy, e.DigitsEntered("1", T0 + 4)) == step(hotline, state, e.DigitsEntered("1", T0 + 4))


def test_the_context_is_masked_for_logs(hotline: Menu) -> None:
    state, _ = begin(hotline)
    for event in [e.DigitsEntered("1", T0 + 1), e.Recorded("c", T0 + 2), e.DigitsEntered("12910747350#", T0 + 3),
                  e.DigitsEntered("1", T0 + 4)]:
        state, _ = step(hotline, state, event)
    masked = json.dumps(state.context.masked(), ensure_ascii=False)
    assert state.context.snils == "129-107-473 50"
    assert "129-107-473" not in masked and "***-***-*73 50" in masked
    assert "+79990000001" not in masked


def test_a_finished_call_ignores_further_events(hotline: Menu) -> None:
    state, _ = begin(hotline)
    state, actions = step(hotline, state, e.HungUp(T0 + 1))
    assert state.done and actions == ()
    assert step(hotline, state, e.DigitsEntered("1", T0 + 2)) == (state, ())


def test_a_node_removed_by_a_newer_menu_sends_the_call_to_an_operator(hotline: Menu) -> None:
    import dataclasses

    state, _ = begin(hotline)
    state = dataclasses.replace(state, node="deleted_node")
    state, _ = step(hotline, state, e.DigitsEntered("1", T0 + 1))
    assert state.context.topic == "operator" and state.node == "consent"


EVENTS = st.one_of(
    st.builds(e.DigitsEntered, st.text("0123456789*#", min_size=1, max_size=13), st.just(0.0)),
    st.builds(e.NoInput, st.just(0.0)),
    st.builds(e.SpeechHeard, st.sampled_from(["да", "нет", "иванов иван", "платёж", "э"]),
              st.floats(0, 1), st.just(0.0)),
    st.builds(e.Recorded, st.just("clip"), st.just(0.0)),
    st.builds(e.PromptFinished, st.just(0.0)),
    st.builds(e.Queued, st.integers(1, 50), st.floats(0, 3600), st.booleans(), st.just(0.0)),
    st.builds(e.QueueUpdate, st.integers(1, 50), st.floats(0, 3600), st.just(0.0)),
    st.builds(e.AppealLooked, st.just("0000042424"), st.sampled_from([None, "accepted", "completed"]), st.just(0.0)),
    st.builds(e.CallbackBooked, st.booleans(), st.just(0.0)),
    st.builds(e.HungUp, st.just(0.0)),
)


@settings(max_examples=300, deadline=None)
@given(events=st.lists(EVENTS, max_size=40), speech=st.booleans())
def test_no_sequence_of_events_raises_or_loses_the_call(hotline: Menu, events: list[e.Event], speech: bool) -> None:
    state, _ = begin(hotline, speech=speech)
    for index, event in enumerate(events):
        event = type(event)(**{**event.__dict__, "at": T0 + index})
        state, actions = step(hotline, state, event)
        assert state.node in hotline.nodes
        waits = [x for x in actions if isinstance(x, a.WAITING)]
        assert len(waits) <= 1 and (not waits or actions.index(waits[0]) >= len(actions) - 2)
        if state.done:
            assert state.context.outcome is not None


def test_shipped_scenarios_pass(config: Config, hotline: Menu) -> None:
    results = [r for path in scenario_files(config) for r in run_file(path, {"hotline": hotline})]
    assert len(results) >= 30
    assert [r.name for r in results if not r.passed] == []


def test_a_scenario_that_no_longer_matches_the_menu_fails(config: Config, hotline: Menu, tmp_path: Path) -> None:
    loaded = load_scenarios(scenario_files(config)[0])
    scenario = loaded.scenarios[0]
    import dataclasses

    wrong = dataclasses.replace(scenario, expect={**scenario.expect, "topic": "payments"})
    result = run_scenario(hotline, wrong, default_at=loaded.at)
    assert not result.passed and "expected topic = 'payments', got 'signin.recovery'" in result.failures


def test_the_readback_is_heard_whole_and_only_1_or_2_answer_it(hotline: Menu) -> None:
    state, _ = begin(hotline)
    for event in [e.DigitsEntered("1", T0 + 1), e.Recorded("c", T0 + 2)]:
        state, _ = step(hotline, state, event)
    state, actions = step(hotline, state, e.DigitsEntered("000082246517#", T0 + 3))
    assert actions[0] == a.Play("common.you_entered", "ru", barge_in=False)
    assert actions[1:13] == tuple(a.Play(f"number.{d}", "ru") for d in "000082246517")  # digit by digit
    confirm = actions[13]
    assert isinstance(confirm, a.CollectDigits) and confirm.keys == "12"


def test_silence_at_the_language_question_is_russian_whatever_the_channel_spoke(hotline: Menu) -> None:
    """The question says "stay on the line for Russian" in both languages; found trying a
    softphone call with an English channel (``ivr call --language en``): silence went on
    in English."""
    state, _ = begin(hotline, language="en")
    assert state.node == "welcome" or state.node == "language"
    while state.node != "language":
        state, _ = step(hotline, state, e.NoInput(T0 + 1))
    state, actions = step(hotline, state, e.NoInput(T0 + 5))
    assert state.context.language == "ru" and hotline.languages[0] == "ru"
    assert a.SetVariable("CHANNEL(language)", "ru") in actions
    assert all(x.language == "ru" for x in actions if isinstance(x, a.Play))


def test_silence_at_the_readback_is_told_it_was_not_heard_and_a_wrong_key_not_understood(hotline: Menu) -> None:
    """Found trying a softphone call: silence after "if it is right, press 1" played "sorry, I did
    not understand", as if a wrong key had been pressed; every other question says "I cannot
    hear you" to silence."""
    state, _ = begin(hotline)
    for event in [e.DigitsEntered("1", T0 + 1), e.Recorded("c", T0 + 2), e.DigitsEntered("000082246517#", T0 + 3)]:
        state, _ = step(hotline, state, event)
    waits = hotline.waits(hotline.nodes[state.node])
    state, silence = step(hotline, state, e.NoInput(T0 + 10))
    assert silence[0] == a.Play(waits.no_input, "ru") and waits.no_input != waits.no_match
    state, wrong = step(hotline, state, e.DigitsEntered("7", T0 + 20))
    assert wrong[0] == a.Play(waits.no_match, "ru")


@settings(max_examples=100, deadline=None)
@given(events=st.lists(EVENTS, max_size=40), speech=st.booleans())
def test_the_context_as_a_dict_is_what_asdict_makes(hotline: Menu, events: list[e.Event], speech: bool) -> None:
    import dataclasses

    state, _ = begin(hotline, speech=speech)
    for index, event in enumerate(events):
        state, _ = step(hotline, state, type(event)(**{**event.__dict__, "at": T0 + index}))
        assert state.context.to_dict() == dataclasses.asdict(state.context)
        assert CallContext.from_json(state.context.to_json()) == state.context


def _to_the_queue(menu: Menu, **kw: object) -> CallState:
    state, _ = begin(menu, **kw)
    for event in (e.DigitsEntered("1", T0 + 1), e.Recorded("clip", T0 + 2), e.DigitsEntered("#", T0 + 3),
                  e.DigitsEntered("0", T0 + 4), e.DigitsEntered("1", T0 + 5)):
        state, _ = step(menu, state, event)
    assert state.node == "queue" and state.phase == "enqueueing"
    return state


def test_no_callback_is_offered_when_none_can_be_placed(hotline: Menu) -> None:
    for callbacks, offered in ((True, True), (False, False)):
        state = _to_the_queue(hotline, callbacks=callbacks)
        state, actions = step(hotline, state, e.Queued(3, 600.0, True, T0 + 6))
        assert (a.Play("queue.callback_offer", "ru") in actions) is offered
        hold = actions[-1]
        assert isinstance(hold, a.HoldMusic) and hold.keys == ("1" if offered else "")


def test_a_booked_callback_tells_the_channel_its_number(hotline: Menu) -> None:
    state = _to_the_queue(hotline)
    state, _ = step(hotline, state, e.Queued(3, 600.0, True, T0 + 6))
    state, _ = step(hotline, state, e.DigitsEntered("1", T0 + 7))
    state, actions = step(hotline, state, e.DigitsEntered("1", T0 + 8))
    assert actions == (a.BookCallback("+79990000001"),)
    state, actions = step(hotline, state, e.CallbackBooked(True, T0 + 9))
    assert actions[0] == a.SetVariable("IVR_CALLBACK", "+79990000001") and state.done
