"""Twilio retries webhooks and they may come late: each step applies once."""

from __future__ import annotations

import threading

from ivr.twilio.twiml import POLITE_GOODBYE


def to_queue(twilio, h):
    """Walk quickly to the queue: Russian, a name, ИНН skipped with #, operator (0), consent by key."""
    root = twilio.twiml("/twilio/voice")
    for params in ({"Digits": "1"}, {"SpeechResult": "Иванов Иван Иванович", "Confidence": "0.9"},
                   {"Digits": ""}, {"Digits": "0"}, {"Digits": "1"}):
        root = twilio.twiml(f"/twilio/gather?step={h.next_step(root)}", **params)
    return root


def test_retried_webhook_gets_the_same_twiml_and_applies_once(twilio, world, redis, h) -> None:
    root = twilio.twiml("/twilio/voice")
    step = h.next_step(root)
    first = twilio.post(f"/twilio/gather?step={step}", Digits="2").get_data()
    snapshot = h.redis_snapshot(redis)
    again = twilio.post(f"/twilio/gather?step={step}", Digits="2").get_data()
    assert again == first
    assert h.redis_snapshot(redis) == snapshot


def test_retried_first_webhook_does_not_start_a_second_call(twilio, world, h) -> None:
    first = twilio.post("/twilio/voice").get_data()
    assert twilio.post("/twilio/voice").get_data() == first
    assert next(world.appeals) == 2  # one appeal number allocated, not two


def test_retry_of_the_enqueueing_step_does_not_enqueue_twice(twilio, world, h) -> None:
    root = twilio.twiml("/twilio/voice")
    for params in ({"Digits": "1"}, {"SpeechResult": "Иванов Иван Иванович", "Confidence": "0.9"},
                   {"Digits": ""}, {"Digits": "0"}):
        root = twilio.twiml(f"/twilio/gather?step={h.next_step(root)}", **params)
    consent = f"/twilio/gather?step={h.next_step(root)}"
    queued = twilio.post(consent, Digits="1").get_data()
    assert twilio.post(consent, Digits="1").get_data() == queued
    assert len(world.enqueued) == 1 and world.enqueued[0].queue == "general"


def test_out_of_order_webhook_gets_the_current_twiml_and_changes_nothing(twilio, redis, h) -> None:
    first = twilio.twiml("/twilio/voice")
    second = twilio.post(f"/twilio/gather?step={h.next_step(first)}", Digits="1").get_data()
    snapshot = h.redis_snapshot(redis)
    # the silence redirect of step 1 arrives after the key press was handled
    late = twilio.post(f"/twilio/gather?step={h.next_step(first)}&timeout=1")
    assert late.get_data() == second
    # a step from the future (never issued) changes nothing either
    assert twilio.post("/twilio/gather?step=99", Digits="5").get_data() == second
    assert h.redis_snapshot(redis) == snapshot


def test_concurrent_retries_apply_once(twilio, world, redis, h) -> None:
    root = twilio.twiml("/twilio/voice")
    path = f"/twilio/gather?step={h.next_step(root)}"
    bodies: list[bytes] = []

    def post() -> None:
        bodies.append(twilio.client.application.test_client().post(
            path, data=twilio.params(Digits="1"),
            headers={"X-Twilio-Signature": twilio.sign(path, twilio.params(Digits="1"))}).get_data())

    threads = [threading.Thread(target=post) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(set(bodies)) == 1
    assert redis.hget(f"{{ivr}}:twilio:call:{h.CALL_SID}", "step") == b"2"


def test_unknown_call_on_a_later_webhook_ends_politely(twilio, redis, h) -> None:
    root = twilio.twiml("/twilio/gather?step=3", Digits="1")
    assert [child.tag for child in root] == ["Say", "Hangup"] and root[0].text == POLITE_GOODBYE
    assert twilio.twiml("/twilio/wait?step=7").find("Hangup") is not None
    assert twilio.post("/twilio/status", CallStatus="completed").status_code == 204
    assert redis.keys("*") == []


def test_unknown_call_on_voice_starts_cleanly(twilio, h) -> None:
    twilio.call_sid = "CA" + "e" * 32
    root = twilio.twiml("/twilio/voice")
    assert h.next_step(root) == 1


def test_a_late_first_webhook_after_the_call_ended_does_not_restart_it(twilio, world, redis, h) -> None:
    twilio.twiml("/twilio/voice")
    twilio.post("/twilio/status", CallStatus="completed")
    root = twilio.twiml("/twilio/voice")
    assert [child.tag for child in root] == ["Say", "Hangup"]
    assert not redis.exists(f"{{ivr}}:twilio:call:{h.CALL_SID}")


def test_hang_up_mid_menu_records_where_the_caller_left(twilio, world, redis, h) -> None:
    root = twilio.twiml("/twilio/voice")
    root = twilio.twiml(f"/twilio/gather?step={h.next_step(root)}", Digits="1")
    root = twilio.twiml(f"/twilio/gather?step={h.next_step(root)}", SpeechResult="Иванов Иван Иванович",
                        Confidence="0.9")
    assert twilio.post("/twilio/status", CallStatus="completed").status_code == 204
    [ctx] = world.ended
    assert ctx.outcome == "hangup"
    assert (ctx.path[-1].node, ctx.path[-1].exit) == ("ask_number", "hangup")
    assert not redis.exists(f"{{ivr}}:twilio:call:{h.CALL_SID}")
    # Twilio retries the status callback: nothing more is recorded
    assert twilio.post("/twilio/status", CallStatus="completed").status_code == 204
    assert len(world.ended) == 1


def test_hang_up_in_the_queue_is_an_abandonment(twilio, world, h) -> None:
    to_queue(twilio, h)
    twilio.post("/twilio/status", CallStatus="no-answer")
    [ctx] = world.ended
    assert ctx.outcome == "abandoned" and world.left == [h.CALL_SID]
    assert (ctx.path[-1].node, ctx.path[-1].exit) == ("queue", "hangup")


def test_progress_statuses_change_nothing(twilio, redis, h) -> None:
    twilio.twiml("/twilio/voice")
    snapshot = h.redis_snapshot(redis)
    assert twilio.post("/twilio/status", CallStatus="ringing").status_code == 204
    assert h.redis_snapshot(redis) == snapshot


def test_state_lives_under_a_hash_tagged_key_with_a_ttl(twilio, redis, h) -> None:
    twilio.twiml("/twilio/voice")
    key = f"{{ivr}}:twilio:call:{h.CALL_SID}"
    assert redis.keys("*") == [key.encode()]
    assert 0 < redis.ttl(key) <= 3600
    assert set(redis.hgetall(key)) == {b"step", b"menu", b"state", b"twiml"}
