"""/metrics: what the people paged for the hotline read, counted from real calls."""

from __future__ import annotations

import calendar
import sys
import time
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

from ivr.call import CallRunner
from ivr.flow import events as e
from ivr.identity import corrupt_checksum, synthetic_inn
from ivr.ops.feeds import RoutingEventFeed
from ivr.ops.metrics import Metrics
from ivr.speech.recogniser import Recognition
from ivr.web.app import create_app, create_ops_app

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "asterisk"))

NOON = calendar.timegm((2026, 3, 18, 9, 0, 0))  # Wednesday 12:00 Moscow: every queue open
INN = synthetic_inn(4401)


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    out = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def value(metrics: Metrics, name: str, **labels: str) -> float:
    got = metrics.registry.get_sample_value(name, labels)
    return 0.0 if got is None else got


def test_a_call_walk_counts_entries_failures_timeouts_and_the_hang_up(hotline) -> None:  # type: ignore[no-untyped-def]
    from world import World

    metrics = Metrics(queues=["general", "payments"], process=False)
    runner = CallRunner(menu=hotline, services=World(), clock=lambda: NOON, observer=metrics)
    runner.start(e.CallStarted("c1", "+79990004401", "88005553535", NOON, appeal="2026000001"))
    assert value(metrics, "ivr_calls_in_menu", channel="asterisk") == 1
    runner.handle(e.NoInput(NOON + 1))  # language: silence keeps Russian (retries 0: fallback)
    runner.handle(e.Recorded("clip", NOON + 2))
    runner.handle(e.DigitsEntered(corrupt_checksum(INN), NOON + 3))  # checksum
    runner.handle(e.DigitsEntered(INN, NOON + 5))
    runner.handle(e.DigitsEntered("2", NOON + 6))  # "ввести заново"
    runner.handle(e.DigitsEntered(INN, NOON + 7))
    runner.handle(e.DigitsEntered("1", NOON + 8))  # confirmed
    runner.handle(e.NoInput(NOON + 9))  # nothing pressed at the topic menu: a timeout
    runner.handle(e.DigitsEntered("8", NOON + 9))  # no such topic
    runner.handle(e.HungUp(NOON + 10))
    m = "hotline"
    assert value(metrics, "ivr_calls_started_total", channel="asterisk") == 1
    assert value(metrics, "ivr_calls_in_menu", channel="asterisk") == 0
    assert value(metrics, "ivr_calls_ended_total", channel="asterisk", outcome="hangup") == 1
    assert value(metrics, "ivr_menu_node_entries_total", menu=m, node="welcome") == 1
    assert value(metrics, "ivr_menu_node_entries_total", menu=m, node="ask_number") == 1
    assert value(metrics, "ivr_menu_node_entries_total", menu=m, node="main") == 1
    assert value(metrics, "ivr_menu_validation_failures_total", menu=m, node="ask_number",
                 reason="checksum") == 1
    assert value(metrics, "ivr_menu_node_timeouts_total", menu=m, node="main") == 1
    # silence at the language question keeps Russian: a choice, not a timeout
    assert value(metrics, "ivr_menu_node_timeouts_total", menu=m, node="language") == 0
    assert value(metrics, "ivr_menu_fallbacks_total", menu=m, node="language") == 0
    assert value(metrics, "ivr_menu_corrections_total", menu=m, node="ask_number") == 1
    assert value(metrics, "ivr_menu_node_no_match_total", menu=m, node="main") == 1
    assert value(metrics, "ivr_menu_hangups_total", menu=m, node="main") == 1


def test_label_values_stay_bounded() -> None:
    metrics = Metrics(queues=["general"], process=False)
    for i in range(200):
        metrics.routing_event({"type": "enqueued", "queue": f"q{i}"})
        metrics.webhook_error(f"failed_Error{i}")
    text = metrics.exposition().decode()
    assert text.count("ivr_queue_enqueued_total{") == 1  # every unknown queue is "other"
    assert 'ivr_queue_enqueued_total{queue="other"} 200.0' in text
    assert text.count("ivr_webhook_errors_total{") <= 41


def test_recognition_time_and_purges() -> None:
    metrics = Metrics(process=False)
    metrics.recognised(Recognition("иванов", 0.9, (), 1.0, "heard", elapsed=0.3))
    metrics.recognised(Recognition("", 0.0, (), 0.0, "timeout", elapsed=10.2))
    assert value(metrics, "ivr_speech_recognition_seconds_count", status="heard") == 1
    assert value(metrics, "ivr_speech_recognition_seconds_bucket", status="heard", le="0.5") == 1
    assert value(metrics, "ivr_speech_recognition_seconds_bucket", status="timeout", le="8.0") == 0


def test_engine_metrics_endpoint_with_routing_figures(make_engine) -> None:  # type: ignore[no-untyped-def]
    now = [NOON]
    engine = make_engine(clock=lambda: now[0])
    client = create_ops_app(engine).test_client()
    engine.tick()  # creates the consumer group: counting starts now
    runner = CallRunner(menu=engine.menus.get("hotline"), services=engine.services(),
                        clock=engine.clock, observer=engine.metrics)
    runner.start(e.CallStarted("c7", "+79990004407", "88005553535", NOON,
                               appeal=engine.services().allocate_appeal()))
    for event in (e.DigitsEntered("1", NOON), e.Recorded("clip", NOON), e.DigitsEntered(INN, NOON),
                  e.DigitsEntered("1", NOON), e.DigitsEntered("4", NOON), e.DigitsEntered("1", NOON)):
        runner.handle(event)
    response = client.get("/metrics")
    assert response.status_code == 200 and response.mimetype == "text/plain"
    got = samples(response.get_data(as_text=True))
    assert got[("ivr_queue_waiting", (("queue", "payments"),))] == 1
    assert got[("ivr_calls_in_menu", (("channel", "asterisk"),))] == 1
    assert got[("ivr_redis_up", ())] == 1
    assert got[("ivr_ready", (("check", "redis"),))] == 1
    assert ("process_resident_memory_bytes", ()) in got
    engine.router.set_operator_state("op102", "available")
    now[0] += 5
    engine.tick()  # assignment, and the feed reads the events
    assert value(engine.metrics, "ivr_queue_enqueued_total", queue="payments") == 1
    assert value(engine.metrics, "ivr_routing_assignments_total", queue="payments", kind="call") == 1
    engine.router.connected("c7")
    engine.tick()
    assert value(engine.metrics, "ivr_routing_answered_total", queue="payments", kind="call") == 1
    assert value(engine.metrics, "ivr_queue_wait_seconds_count", queue="payments") == 1


def test_two_processes_split_the_event_stream_each_event_counted_once(make_engine) -> None:  # type: ignore[no-untyped-def]
    engine = make_engine()
    a, b = Metrics(process=False), Metrics(process=False)
    feeds = [RoutingEventFeed(redis=engine.redis, stream=engine.router.keys.events, metrics=m, consumer=name)
             for m, name in ((a, "a"), (b, "b"))]
    for feed in feeds:
        feed.poll()
    for i in range(300):
        engine.redis.xadd(engine.router.keys.events, {"type": "enqueued", "queue": "general", "call": f"c{i}"})
        if i % 100 == 99:
            feeds[i // 100 % 2].poll()
    while sum(feed.poll() for feed in feeds):
        pass
    total = value(a, "ivr_queue_enqueued_total", queue="general") + value(b, "ivr_queue_enqueued_total",
                                                                         queue="general")
    assert total == 300
    assert value(a, "ivr_routing_events_read_total") > 0 and value(b, "ivr_routing_events_read_total") > 0


def test_the_feed_survives_a_redis_that_lost_its_group(make_engine, redis_server) -> None:  # type: ignore[no-untyped-def]
    engine = make_engine()
    metrics = Metrics(process=False)
    feed = RoutingEventFeed(redis=engine.redis, stream=engine.router.keys.events, metrics=metrics)
    feed.poll()
    engine.redis.delete(engine.router.keys.events)  # stream and group gone (a flushed Redis)
    assert feed.poll() == 0  # group made again, at "$"
    engine.redis.xadd(engine.router.keys.events, {"type": "abandoned", "queue": "general"})
    assert feed.poll() == 1


def test_readyz_says_not_ready_while_draining(make_engine) -> None:  # type: ignore[no-untyped-def]
    engine = make_engine()
    client = create_app(engine).test_client()
    assert client.get("/readyz").status_code == 200
    engine.draining.set()
    reply = client.get("/readyz")
    assert reply.status_code == 503 and reply.json["draining"] is True


def test_fastagi_sessions_and_protocol_errors_by_kind(make_engine) -> None:  # type: ignore[no-untyped-def]
    from ivr.asterisk.peer import default_env
    from tests.asterisk.fake_asterisk import FakeCall, ScriptedCaller
    from tests.ops.callers import through_fastagi

    t0 = time.monotonic()
    engine = make_engine(clock=lambda: NOON + time.monotonic() - t0)
    server = through_fastagi(
        engine,
        FakeCall(caller=ScriptedCaller("1"), faults={2: "garbage"},
                 env=default_env(caller="79990004402", uniqueid="g.1")),
        FakeCall(caller=ScriptedCaller("1", hang_up_on="identity.say_name"),
                 env=default_env(caller="79990004403", uniqueid="h.1")))
    m = engine.metrics
    assert value(m, "ivr_agi_sessions_ended_total", ended_by="error") == 1
    assert value(m, "ivr_agi_errors_total", kind="AgiProtocolError") == 1
    assert value(m, "ivr_agi_sessions_ended_total", ended_by="caller_hangup") == 1
    assert value(m, "ivr_menu_hangups_total", menu="hotline", node="ask_name") == 1
    assert value(m, "ivr_agi_calls_served_total", listen=f"{server.address[0]}:{server.address[1]}") == 2
    assert value(m, "ivr_calls_in_menu", channel="asterisk") == 0
