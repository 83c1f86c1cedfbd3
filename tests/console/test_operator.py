"""The operator's desk over the Flask app with a real engine: screen-pop (pushed and fetched),
audited "show" and name clip, another operator's call refused, wrap-up and its effects."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from flask import Flask

from ivr.aftermenu import CallerLeft
from ivr.engine import Engine
from ivr.flow import events as e
from routing.model import WaitingCall
from tests.console.conftest import INN, Clock, Console, place_call, security_kinds


def audit_lines(engine: Engine) -> list[dict[str, Any]]:
    path = Path(engine.config.path(engine.config.console.audit_log))
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


class Stream:
    """Reads Server-Sent Events frames from a streamed test response."""

    def __init__(self, response: Any) -> None:
        self.response = response
        self.chunks: Iterator[bytes] = iter(response.response)
        self.buffer = b""

    def next(self, within: float | None = None) -> tuple[str, Any]:
        """The next event; ``within`` seconds at most (checked at each chunk: keep-alives
        come every few seconds), else AssertionError."""
        deadline = None if within is None else time.monotonic() + within
        while True:
            while b"\n\n" not in self.buffer:
                assert deadline is None or time.monotonic() < deadline, f"no event within {within} s"
                self.buffer += next(self.chunks)
            raw, self.buffer = self.buffer.split(b"\n\n", 1)
            fields = dict(line.split(": ", 1) for line in raw.decode().splitlines()
                          if ": " in line and not line.startswith(":"))
            if "event" in fields:  # else retry: / keep-alive
                return fields["event"], json.loads(fields["data"])

    def close(self) -> None:
        self.response.close()


def test_the_screen_pop_is_pushed_with_what_the_menu_collected(app: Flask, engine: Engine, as_role: Any) -> None:
    olga: Console = as_role("operator")
    assert olga.post("/operator/api/state", {"state": "ready"}).json["state"] == "available"
    stream = Stream(olga.get("/operator/events", buffered=False))
    try:
        kind, hello = stream.next()
        assert kind == "hello" and hello["state"] == "available" and hello["pop"] is None
        started = time.monotonic()
        runner = place_call(engine, "call-1")  # payments: op102 (olga) is the only fit
        kind, pop = stream.next()
        assert time.monotonic() - started < 1.0
    finally:
        stream.close()
    assert kind == "pop" and pop["call_id"] == "call-1" and pop["operator"] == "op102"
    # no recording key here: the spoken name is not kept, and the screen says so (test_name_clip.py)
    assert pop["name"] == {"text": "Иванова Мария Петровна", "confidence": 0.87, "recognised": True,
                           "clip": False, "clip_note": "no_key"}
    assert pop["inn"] != INN and pop["inn"].endswith("17") and INN not in json.dumps(pop)
    assert pop["topic"] == "payments" and pop["topic_label"] == "Платежи" and pop["language"] == "ru"
    assert pop["appeal"] == runner.state.context.appeal  # type: ignore[union-attr]
    # No recording key here: the caller was not asked to consent, and nothing is recorded.
    assert pop["kind"] == "call" and pop["consent"] is None
    assert pop["recording"] == "no_key"
    assert pop["identity_confirmed"] and pop["queue_name"] == "Платежи" and pop["menu_version"] == 1
    steps = {s["node"]: s for s in pop["path"]}
    assert steps["ask_number"]["failures"] == ["length"] and steps["ask_number"]["attempts"] == 1
    assert steps["main"]["exit"] == "key" and steps["main"]["detail"] == "4"
    assert [s["node"] for s in pop["path"]][:3] == ["welcome", "language", "ask_name"]
    assert pop["waited"] == 0.0 and pop["in_menu"] == 0.0  # the test clock stands still
    assert pop["repeat"] is False and pop["previous"] == []
    assert olga.get("/operator/api/calls/call-1").json["call_id"] == "call-1"


def test_a_reconnecting_page_gets_what_it_missed(app: Flask, engine: Engine, as_role: Any) -> None:
    olga: Console = as_role("operator")
    olga.post("/operator/api/state", {"state": "ready"})
    last = engine.router.events("0-0", count=1000)[-1][0]
    place_call(engine, "call-2")
    stream = Stream(olga.get("/operator/events", headers={"Last-Event-ID": last}, buffered=False))
    try:
        frames = [stream.next() for _ in range(2)]
    finally:
        stream.close()
    assert frames[0][0] == "hello" and frames[0][1]["pop"]["call_id"] == "call-2"
    assert frames[1][0] == "pop" and frames[1][1]["call_id"] == "call-2"


def test_another_operators_call_is_refused_logged_and_audited(app: Flask, engine: Engine, as_role: Any) -> None:
    engine.router.set_operator_state("op102", "available")
    place_call(engine, "call-3")
    oleg = Console(app, "oleg")  # op101: not his call
    for response in (oleg.get("/operator/api/calls/call-3"),
                     oleg.post("/operator/api/calls/call-3/reveal", {"field": "inn"}),
                     oleg.get("/operator/calls/call-3/name-clip"),
                     oleg.post("/operator/api/calls/call-3/wrap-up",
                               {"result": "resolved", "status": "completed", "note": ""})):
        assert response.status_code == 403 and response.json["error"] == "not_your_call"
        assert INN not in response.get_data(as_text=True)
    assert security_kinds(engine).count("not_your_call") == 4
    refused = [x for x in audit_lines(engine) if x["outcome"] == "refused"]
    assert [(x["actor"], x["call"]) for x in refused] == [("oleg", "call-3")] * 4
    assert engine.router.status("call-3").state == "reserved"  # nothing changed
    appeal = engine.appeals.get(engine.router.status("call-3").assignment.context["appeal"])  # type: ignore[union-attr]
    assert appeal is not None and appeal.status == "accepted"


def test_show_is_audited_and_gives_the_full_number(app: Flask, engine: Engine, as_role: Any) -> None:
    engine.router.set_operator_state("op102", "available")
    place_call(engine, "call-4")
    olga: Console = as_role("operator")
    shown = olga.post("/operator/api/calls/call-4/reveal", {"field": "inn"})
    assert shown.status_code == 200 and shown.json["value"] == INN
    assert olga.post("/operator/api/calls/call-4/reveal", {"field": "snils"}).status_code == 404
    assert olga.post("/operator/api/calls/call-4/reveal", {"field": "caller"}).status_code == 400
    lines = audit_lines(engine)
    assert [(x["actor"], x["action"], x["outcome"]) for x in lines] == [("olga", "show_inn", "allowed")]
    assert INN not in json.dumps(lines)


def test_wrap_up_ends_the_call_sets_the_appeal_and_after_call_work_returns_to_ready(
    app: Flask, engine: Engine, as_role: Any, clock: Clock
) -> None:
    olga: Console = as_role("operator")
    olga.post("/operator/api/state", {"state": "ready"})
    runner = place_call(engine, "call-7")
    appeal = runner.state.context.appeal  # type: ignore[union-attr]
    for bad in ({"result": "nope", "status": "completed"}, {"result": "resolved", "status": "Готово"},
                {"result": "resolved", "status": "completed", "note": "x" * 2001},
                {"result": "no_answer", "status": "completed"}):
        response = olga.post("/operator/api/calls/call-7/wrap-up", bad)
        assert response.status_code == 400, bad
    assert engine.router.status("call-7").state == "reserved"
    assert engine.appeals.get(appeal).status == "accepted"  # type: ignore[union-attr]
    done = olga.post("/operator/api/calls/call-7/wrap-up",
                     {"result": "documents", "status": "awaiting_documents", "note": "нужна справка 2-НДФЛ"})
    assert done.status_code == 200, done.json
    assert done.json["state"] == "wrap_up" and done.json["appeal_status"] == "Ожидание документов"
    assert done.json["wrap_until"] == clock() + engine.config.routing.wrap_up_seconds
    assert engine.router.status("call-7").state == "gone"
    assert engine.appeals.get(appeal).status == "awaiting_documents"  # type: ignore[union-attr]
    assert engine.appeals.history(appeal)[-1]["operator"] == "op102"
    assert "2-НДФЛ" in engine.appeals.history(appeal)[-1]["note"]
    caller = runner.state.context  # type: ignore[union-attr]
    assert engine.services().lookup_appeal(caller, appeal, clock()).status == "awaiting_documents"  # what a caller hears
    again = olga.post("/operator/api/calls/call-7/wrap-up", {"result": "resolved", "status": "completed"})
    assert again.status_code == 410
    clock.advance(engine.config.routing.wrap_up_seconds + 1)
    engine.router.assign()
    assert engine.router.operator_status("op102").state == "available"


def test_a_call_telephony_already_ended_is_wrapped_up_even_if_no_page_showed_it(
    app: Flask, engine: Engine, as_role: Any
) -> None:
    engine.router.set_operator_state("op102", "available")
    appeal = place_call(engine, "call-12").state.context.appeal  # type: ignore[union-attr]
    engine.router.connected("call-12")  # as the AMI hand-over tracking reports it
    engine.router.ended("call-12")
    assert engine.router.operator_status("op102").state == "wrap_up"
    oleg = Console(app, "oleg")
    refused = oleg.post("/operator/api/calls/call-12/wrap-up", {"result": "resolved", "status": "completed"})
    assert refused.status_code == 403
    olga: Console = as_role("operator")
    done = olga.post("/operator/api/calls/call-12/wrap-up", {"result": "resolved", "status": "completed"})
    assert done.status_code == 200 and done.json["appeal"] == appeal
    assert engine.appeals.get(appeal).status == "completed"  # type: ignore[union-attr]
    assert olga.post("/operator/api/calls/call-12/wrap-up", {"result": "resolved", "status": "completed"}).status_code == 410


def test_a_repeat_caller_shows_earlier_appeals_and_their_status(app: Flask, engine: Engine, as_role: Any,
                                                                 clock: Clock) -> None:
    olga: Console = as_role("operator")
    olga.post("/operator/api/state", {"state": "ready"})
    first = place_call(engine, "call-8").state.context.appeal  # type: ignore[union-attr]
    olga.post("/operator/api/calls/call-8/wrap-up", {"result": "documents", "status": "awaiting_documents"})
    olga.post("/operator/api/state", {"state": "ready"})  # end after-call work early
    clock.advance(3600)
    place_call(engine, "call-9", caller="+79990000002")  # same ИНН, another phone
    pop = olga.get("/operator/api/calls/call-9").json
    assert pop["repeat"] is True
    assert [(a["number"], a["status_name"]) for a in pop["previous"]] == [(first, "Ожидание документов")]


def test_a_caller_who_hangs_up_while_reserved_can_still_be_wrapped_up(app: Flask, engine: Engine,
                                                                       as_role: Any) -> None:
    olga: Console = as_role("operator")
    runner = place_call(engine, "call-10")  # nobody ready: the caller holds in the engine
    olga.post("/operator/api/state", {"state": "ready"})
    engine.router.assign()  # the engine's tick reserves olga for the caller on hold
    assert engine.router.status("call-10").state == "reserved"
    olga.get("/operator/api/calls/call-10")  # the pop was shown
    runner.handle(e.HungUp(engine.clock() + 8))
    assert engine.router.status("call-10").state in ("abandoned", "gone")
    assert engine.router.operator_status("op102").state == "available"
    over = olga.get("/operator/api/calls/call-10").json
    assert over["over"] is True
    assert olga.post("/operator/api/calls/call-10/reveal", {"field": "inn"}).status_code == 410
    done = olga.post("/operator/api/calls/call-10/wrap-up", {"result": "dropped", "status": "in_progress"})
    assert done.status_code == 200 and done.json["appeal_status"] == "В обработке"


def test_the_page_is_told_the_caller_hung_up_not_that_the_reservation_expired(app: Flask, engine: Engine,
                                                                               as_role: Any) -> None:
    """The "gone" frame's reason used to share the key "why" with the operator's own state,
    which overwrote it: a caller who hung up while it rang showed "бронь истекла"."""
    olga: Console = as_role("operator")
    olga.post("/operator/api/state", {"state": "ready"})
    place_call(engine, "call-11")  # handed to olga at once: her phone rings
    assert engine.router.status("call-11").state == "reserved"
    stream = Stream(olga.get("/operator/events", buffered=False))
    try:
        assert stream.next()[0] == "hello"
        engine.call_life.apply(CallerLeft("call-11", "operator-handover"))  # the telephony's word
        kind, gone = stream.next(within=5)
        while kind != "gone":
            kind, gone = stream.next(within=5)
    finally:
        stream.close()
    assert (gone["call_id"], gone["gone"], gone["state"]) == ("call-11", "abandoned", "available")


def test_a_callback_nobody_answered_goes_back_for_a_retry(app: Flask, engine: Engine, as_role: Any,
                                                          clock: Clock) -> None:
    router = engine.router
    appeal = engine.appeals.allocate()
    engine.appeals.open(appeal, [], "payments", clock())
    router.enqueue(WaitingCall(call_id="cb-call", queue="payments", skills=("payments",), priority=0,
                               language="ru", caller="+79990000003", enqueued_at=clock(),
                               context={"call_id": "cb-call", "caller": "+79990000003", "dialled": "",
                                        "started": clock() - 60, "appeal": appeal, "topic": "payments"}))
    router.request_callback("cb-call", "+79990000003")
    olga: Console = as_role("operator")
    olga.post("/operator/api/state", {"state": "ready"})
    [assignment] = router.due_callbacks()
    pop = olga.get("/operator/api/calls/cb-call").json
    assert pop["kind"] == "callback" and pop["callback_number"] != "+79990000003"
    done = olga.post("/operator/api/calls/cb-call/wrap-up", {"result": "no_answer", "status": "in_progress"})
    assert done.status_code == 200
    assert router.status("cb-call").state == "callback"  # back in line for the next attempt
    assert assignment.callback_id is not None and router.callback(assignment.callback_id).attempts == 1  # type: ignore[union-attr]


def test_state_buttons_follow_the_routing_rules(app: Flask, engine: Engine, as_role: Any) -> None:
    olga: Console = as_role("operator")
    assert olga.post("/operator/api/state", {"state": "break"}).json["state"] == "break"
    assert olga.post("/operator/api/state", {"state": "not_ready"}).json["state"] == "offline"
    assert olga.post("/operator/api/state", {"state": "on_call"}).status_code == 400
    olga.post("/operator/api/state", {"state": "ready"})
    place_call(engine, "call-11")  # reserved for olga now
    busy = olga.post("/operator/api/state", {"state": "break"})
    assert busy.status_code == 409 and engine.router.operator_status("op102").state == "reserved"


def test_not_ready_during_a_conversation_is_taken_when_its_wrap_up_ends(
    app: Flask, engine: Engine, as_role: Any, clock: Clock
) -> None:
    router = engine.router
    olga: Console = as_role("operator")
    olga.post("/operator/api/state", {"state": "ready"})
    place_call(engine, "call-31")
    assert olga.post("/operator/api/calls/call-31/answered", {}).json["state"] == "on_call"
    asked = olga.post("/operator/api/state", {"state": "not_ready"})
    assert asked.status_code == 200, asked.json
    assert asked.json["state"] == "on_call" and asked.json["after"] == "offline"
    assert router.status("call-31").state == "connected"  # the conversation goes on
    assert olga.post("/operator/api/state", {"state": "break"}).status_code == 409  # only "not ready" waits
    cancelled = olga.post("/operator/api/after-call/cancel", {})
    assert cancelled.status_code == 200 and cancelled.json["after"] is None
    assert olga.post("/operator/api/state", {"state": "not_ready"}).json["after"] == "offline"  # asked again

    done = olga.post("/operator/api/calls/call-31/wrap-up", {"result": "resolved", "status": "completed"})
    assert done.status_code == 200 and done.json["state"] == "wrap_up" and done.json["after"] == "offline"
    place_call(engine, "call-32")  # a caller waits for a payments operator: olga is the only one
    clock.advance(engine.config.routing.wrap_up_seconds + 1)
    router.assign()
    assert router.operator_status("op102").state == "offline"
    assert olga.get("/operator/api/calls/call-31").status_code == 410  # wrapped up
    assert router.status("call-32").state == "waiting"  # not given to the operator who is not ready
    state = olga.post("/operator/api/state", {"state": "not_ready"}).json
    assert state["state"] == "offline" and state["after"] is None
    staffed = {k: int(v) for k, v in router.redis.hgetall(router.keys.staff).items()}
    assert staffed and not any(staffed.values()), staffed  # off the staff: no wait estimated on her


def test_the_operators_own_choice_in_wrap_up_replaces_not_ready_after_the_call(
    app: Flask, engine: Engine, as_role: Any, clock: Clock
) -> None:
    olga: Console = as_role("operator")
    olga.post("/operator/api/state", {"state": "ready"})
    place_call(engine, "call-33")
    olga.post("/operator/api/calls/call-33/answered", {})
    olga.post("/operator/api/state", {"state": "not_ready"})
    olga.post("/operator/api/calls/call-33/wrap-up", {"result": "resolved", "status": "completed"})
    ready = olga.post("/operator/api/state", {"state": "ready"})  # "ready now" in after-call work
    assert ready.json["state"] == "available" and ready.json["after"] is None
    clock.advance(engine.config.routing.wrap_up_seconds + 1)
    place_call(engine, "call-34")
    assert engine.router.status("call-34").state == "reserved"  # ready, so the next call comes


def test_the_operator_says_the_conversation_began_when_telephony_cannot(
    app: Flask, engine: Engine, as_role: Any, clock: Clock
) -> None:
    olga: Console = as_role("operator")
    olga.post("/operator/api/state", {"state": "ready"})
    place_call(engine, "call-21")
    pop = olga.get("/operator/api/calls/call-21").json
    assert pop["answer_here"] is True and pop["connected"] is False
    clock.advance(4)
    done = olga.post("/operator/api/calls/call-21/answered", {})
    assert done.status_code == 200 and done.json["state"] == "on_call"
    assert engine.router.status("call-21").state == "connected"
    assert olga.get("/operator/api/calls/call-21").json["connected"] is True
    assert olga.post("/operator/api/calls/call-21/answered", {}).status_code == 200  # a second click: no change
    payments = next(q for q in engine.router.snapshot() if q.queue == "payments")
    assert payments.answered == 1 and payments.answered_within == 1  # the wait ended when answered


def test_where_telephony_reports_the_answer_the_operator_does_not(app: Flask, engine: Engine, as_role: Any) -> None:
    engine.answer_events.add("asterisk")  # AMI's DialEnd moves these calls
    olga: Console = as_role("operator")
    olga.post("/operator/api/state", {"state": "ready"})
    place_call(engine, "call-22")
    assert olga.get("/operator/api/calls/call-22").json["answer_here"] is False
    refused = olga.post("/operator/api/calls/call-22/answered", {})
    assert refused.status_code == 409 and refused.json["error"] == "telephony_answers"
    assert engine.router.status("call-22").state == "reserved"


def test_the_operators_page_comes_in_the_language_of_the_switch(app: Flask, as_role: Any) -> None:
    import re

    olga: Console = as_role("operator")
    russian = olga.get("/operator").get_data(as_text=True)
    assert 'id="language-switch"' in russian and '<html lang="ru">' in russian and "Не готов" in russian
    switched = olga.client.post("/console/language", data={"language": "en", "next": "/operator",
                                                           "csrf_token": olga.csrf})
    assert switched.status_code == 302 and switched.headers["Location"].endswith("/operator")
    english = olga.get("/operator").get_data(as_text=True)
    assert '<html lang="en">' in english and "Not ready" in english
    switch = '<button type="submit" id="language-switch" lang="ru">Русский</button>'
    assert switch in english  # the switch names the other language in it
    english = english.replace(switch, "")
    cyrillic = re.search(r"[А-Яа-яЁё]", english)
    assert cyrillic is None, english[cyrillic.start() - 80:cyrillic.end() + 40]
