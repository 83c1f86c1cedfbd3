"""X-Twilio-Signature: only requests Twilio signed for this URL get through."""

from __future__ import annotations

import pytest

PUBLIC = "https://ivr.example.ru"


def test_signed_request_is_served(twilio, redis, h) -> None:
    assert twilio.post("/twilio/voice").status_code == 200
    assert redis.exists(f"{{ivr}}:twilio:call:{h.CALL_SID}")


@pytest.mark.parametrize(("signature", "message"), [
    ("", "X-Twilio-Signature is missing"),
    ("bm90IGEgc2lnbmF0dXJl", "does not match"),
])
def test_missing_or_forged_signature_is_refused(twilio, redis, signature: str, message: str) -> None:
    response = twilio.post("/twilio/voice", signature=signature)
    assert response.status_code == 403 and message in response.get_data(as_text=True)
    assert redis.keys("*") == []


def test_tampered_parameter_is_refused_and_changes_nothing(twilio, redis, h) -> None:
    root = twilio.twiml("/twilio/voice")
    before = h.redis_snapshot(redis)
    path = f"/twilio/gather?step={h.next_step(root)}"
    signed_for_one = twilio.sign(path, twilio.params(Digits="1"))
    response = twilio.post(path, signature=signed_for_one, Digits="2")
    assert response.status_code == 403
    assert h.redis_snapshot(redis) == before


def test_tampered_query_is_refused(twilio, h) -> None:
    root = twilio.twiml("/twilio/voice")
    step = h.next_step(root)
    signature = twilio.sign(f"/twilio/gather?step={step}", twilio.params())
    response = twilio.post(f"/twilio/gather?step={step}&timeout=1", signature=signature)
    assert response.status_code == 403


def test_signature_for_another_url_is_refused(twilio) -> None:
    params = twilio.params()
    signature = twilio.validator.compute_signature("http://localhost/twilio/status", params)
    assert twilio.post("/twilio/voice", signature=signature).status_code == 403


def test_signature_with_another_token_is_refused(twilio, h) -> None:
    other = h.Twilio(twilio.client, token="some-other-token")
    assert other.post("/twilio/voice").status_code == 403


def test_behind_a_proxy_the_public_url_is_what_twilio_signed(make_app, redis, h) -> None:
    client = make_app(public_url=PUBLIC + "/").test_client()
    behind_proxy = h.Twilio(client, base=PUBLIC)
    assert behind_proxy.post("/twilio/voice").status_code == 200
    as_flask_sees_it = h.Twilio(client, base="http://localhost")
    as_flask_sees_it.call_sid = "CA" + "f" * 32
    assert as_flask_sees_it.post("/twilio/voice").status_code == 403


def test_public_url_keeps_the_query_string(make_app, h) -> None:
    twilio = h.Twilio(make_app(public_url=PUBLIC).test_client(), base=PUBLIC)
    root = twilio.twiml("/twilio/voice")
    assert twilio.post(f"/twilio/gather?step={h.next_step(root)}&timeout=1").status_code == 200


def test_without_an_auth_token_everything_is_refused(make_app, redis, h) -> None:
    twilio = h.Twilio(make_app(auth_token=None).test_client())
    response = twilio.post("/twilio/voice")
    assert response.status_code == 403
    assert "TWILIO_AUTH_TOKEN is not configured" in response.get_data(as_text=True)
    assert redis.keys("*") == []
