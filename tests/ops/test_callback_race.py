"""Found by bench/soak.py: an operator is reserved for a waiting call while the caller is
confirming the callback number.  The booking must not fail the call: the caller is
connected to that operator instead (before, the call ended on an InvalidTransition)."""

from __future__ import annotations

import calendar

from ivr.call import CallRunner
from ivr.flow import actions as a
from ivr.flow import events as e
from ivr.identity import synthetic_inn

NOON = calendar.timegm((2026, 3, 18, 9, 0, 0))


def test_an_operator_reserved_during_the_callback_confirmation_takes_the_call(make_engine) -> None:  # type: ignore[no-untyped-def]
    engine = make_engine(clock=lambda: NOON)
    runner = CallRunner(menu=engine.menus.get("hotline"), services=engine.services(), clock=engine.clock,
                        observer=engine.observer)
    runner.start(e.CallStarted("race.1", "+79990007701", "88005553535", NOON,
                               appeal=engine.services().allocate_appeal()))
    for event in (e.DigitsEntered("1", NOON), e.Recorded("clip", NOON),
                  e.DigitsEntered(synthetic_inn(7701), NOON), e.DigitsEntered("1", NOON),
                  e.DigitsEntered("4", NOON), e.DigitsEntered("1", NOON)):
        runner.handle(event)
    runner.handle(e.DigitsEntered("1", NOON))  # "перезвоните мне": the number is read back
    assert runner.state is not None and runner.state.phase == "cb_confirm"
    engine.router.set_operator_state("op102", "available")  # reserved for this call at once
    assert engine.router.status("race.1").state == "reserved"
    media = runner.handle(e.DigitsEntered("1", NOON + 1))  # "номер верный"
    connect = [x for x in media if isinstance(x, a.Connect)]
    assert connect and connect[0].operator == "op102"
    assert runner.state.context.outcome == "connected"
    assert engine.router.status("race.1").state == "reserved"  # the dialplan bridges now
