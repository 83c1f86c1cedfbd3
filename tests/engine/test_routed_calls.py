"""A call walks the hotline menu with the real routing engine on a real (embedded) Redis."""

from __future__ import annotations

import dataclasses
import hashlib
from pathlib import Path

import pytest

from ivr.call import CallRunner
from ivr.call.routed import RoutedServices, identity_keys
from ivr.config import Config, Secrets
from ivr.engine import Engine, build_engine
from ivr.flow import actions as a
from ivr.flow import events as e
from ivr.flow.context import CallContext
from ivr.identity.pseudonym import IdentityHasher
from ivr.identity.synthetic import synthetic_snils
from ivr.web.app import create_app, create_ops_app
from tests.embedded import embedded_redis

T0 = 1_795_500_000.0  # a Monday morning in Moscow: topic queues open


@pytest.fixture()
def engine(tmp_path: Path, config: Config) -> Engine:
    server = embedded_redis(str(tmp_path / "r.db"))
    clock = [T0]
    moved = dataclasses.replace(config, recordings=dataclasses.replace(config.recordings, dir=str(tmp_path / "rec")))
    built = build_engine(moved, Secrets(), redis=server, clock=lambda: clock[0])
    built.clock_cell = clock  # type: ignore[attr-defined]
    return built


def walk_to_queue(runner: CallRunner, at: float) -> list[a.MediaAction]:
    runner.start(e.CallStarted("call-42", "+79990000001", "88005553535", at, appeal=runner.services.allocate_appeal()))
    for digits in ["1"]:
        runner.handle(e.DigitsEntered(digits, at + 1))
    runner.handle(e.Recorded("clip", at + 2))
    runner.handle(e.DigitsEntered("000082246517#", at + 3))
    runner.handle(e.DigitsEntered("1", at + 4))  # readback confirmed
    runner.handle(e.DigitsEntered("4", at + 5))  # payments
    return runner.handle(e.DigitsEntered("1", at + 6))  # consent


def test_enqueued_then_connected_to_the_operator_the_router_chose(engine: Engine) -> None:
    services = engine.services()
    runner = CallRunner(menu=engine.menus.get("hotline"), services=services, clock=engine.clock)
    media = walk_to_queue(runner, T0)
    assert a.Play("queue.position", "ru") in media and a.Play("number.1", "ru") in media  # position announced
    assert isinstance(media[-1], a.HoldMusic)
    status = engine.router.status("call-42")
    assert status.state == "waiting" and status.position == 1
    engine.router.set_operator_state("op102", "available")  # payments: 4
    media = runner.handle(e.NoInput(T0 + 8))
    connect = media[-1]
    assert isinstance(connect, a.Connect) and connect.operator == "op102" and connect.record is True
    assert connect.endpoint == "PJSIP/op102"
    appeal = engine.appeals.get(runner.state.context.appeal)  # type: ignore[union-attr]
    assert appeal is not None and appeal.status == "accepted" and appeal.topic == "payments"


def test_hanging_up_in_the_queue_removes_the_call_at_once(engine: Engine) -> None:
    runner = CallRunner(menu=engine.menus.get("hotline"), services=engine.services(), clock=engine.clock)
    walk_to_queue(runner, T0)
    runner.handle(e.HungUp(T0 + 9))
    assert engine.router.status("call-42").state in ("abandoned", "gone")
    assert runner.state is not None and runner.state.context.outcome == "abandoned"


def test_identity_keys_are_hashes_not_numbers(engine: Engine) -> None:
    runner = CallRunner(menu=engine.menus.get("hotline"), services=engine.services(), clock=engine.clock)
    walk_to_queue(runner, T0)
    keys = identity_keys(runner.state.context, engine.appeals.identity)  # type: ignore[union-attr]
    assert [k.split(":")[0] for k in keys] == ["inn", "tel"]
    assert not any("000082246517" in k or "9990000001" in k for k in keys)
    # Keyed: the plain SHA-256 of a document, which anyone can recompute, is not what is kept.
    plain = "inn:" + hashlib.sha256(b"inn:000082246517").hexdigest()
    assert plain not in keys
    other = IdentityHasher(b"another engine's identity key")
    assert identity_keys(runner.state.context, other) != keys  # type: ignore[union-attr]


def test_http_health_readiness_and_queue_figures(engine: Engine) -> None:
    client = create_app(engine).test_client()
    health = create_ops_app(engine).test_client().get("/healthz").json
    assert health["status"] == "alive" and health["menus"]["hotline"]["source"] == "file"
    assert health["menu_edit_refused"] is None and health["menus"]["hotline"]["file"].endswith("hotline.yaml")
    public = client.get("/healthz").json  # the public port: no author, no file, no problems
    assert public == {"status": "alive", "menus": {"hotline": {"version": 1, "source": "file"}},
                      "menu_edit_refused": False}, public
    ready = client.get("/readyz")
    assert ready.status_code == 503 and ready.json["checks"] == {"menus": True, "recording_key": False, "redis": True}
    queues = create_ops_app(engine).test_client().get("/queues").json["queues"]
    assert {q["queue"] for q in queues} >= {"general", "special", "signin"}


def test_routed_services_answer_with_engine_events(engine: Engine) -> None:
    services = RoutedServices(router=engine.router, appeals=engine.appeals)
    number = services.allocate_appeal()
    assert engine.appeals.get(number) is not None  # the number is in the book from the start
    caller = CallContext(call_id="c1", caller="+79990000001", dialled="88005553535", started=T0,
                         snils=synthetic_snils(7), identity_confirmed=True, appeal=number, outcome="self_service")
    services.call_ended(caller, T0)  # the call never queued: its appeal takes its identity
    assert services.lookup_appeal(caller, number, T0) == e.AppealLooked(number, "accepted", T0)
    stranger = dataclasses.replace(caller, snils=synthetic_snils(8))
    nobody = dataclasses.replace(caller, snils=None)
    assert services.lookup_appeal(stranger, number, T0) == e.AppealLooked(number, None, T0)
    assert services.lookup_appeal(nobody, number, T0) == e.AppealLooked(number, None, T0)


def test_tick_hands_due_callbacks_to_the_dialer(engine: Engine) -> None:
    placed: list[object] = []

    class Dialer:
        def place_callback(self, assignment: object) -> None:
            placed.append(assignment)

    runner = CallRunner(menu=engine.menus.get("hotline"), services=engine.services(), clock=engine.clock)
    walk_to_queue(runner, T0)
    engine.router.request_callback("call-42", "+79990000001")
    engine.tick()
    assert placed == []  # nobody free yet
    engine.dialers["asterisk"] = Dialer()
    engine.router.set_operator_state("op102", "available")
    engine.tick()
    [assignment] = placed
    assert (assignment.kind, assignment.number, assignment.operator_id) == (  # type: ignore[attr-defined]
        "callback", "+79990000001", "op102")
    engine.tick()
    assert len(placed) == 1  # each callback is handed over once


def test_call_log_gets_every_finished_call(engine: Engine) -> None:
    ended: list[CallContext] = []
    engine.call_observers.append(lambda ctx, at: ended.append(ctx))
    runner = CallRunner(menu=engine.menus.get("hotline"), services=engine.services(), clock=engine.clock)
    walk_to_queue(runner, T0)
    runner.handle(e.HungUp(T0 + 9))
    assert [(c.call_id, c.outcome) for c in ended] == [("call-42", "abandoned")]


def test_a_first_time_caller_is_not_boosted_as_a_repeat_caller_by_the_appeal_of_this_call(engine: Engine) -> None:
    services = engine.services()
    runner = CallRunner(menu=engine.menus.get("hotline"), services=services, clock=engine.clock)
    walk_to_queue(runner, T0)
    appeal = engine.appeals.get(runner.state.context.appeal)  # type: ignore[union-attr]
    assert appeal is not None and appeal.status == "accepted"  # opened as the call queued
    assert engine.redis.hget(engine.router.keys.call("call-42"), "repeat") == b"0"
