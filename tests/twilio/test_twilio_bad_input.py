"""Bad requests: a 4xx with a clear reason, never a 500, never a partial change."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest

from ivr.twilio.twiml import POLITE_GOODBYE

JUNK_SID = {"CallSid": "CA-not-a-sid"}


@pytest.fixture
def started(twilio, redis, h):
    """A call at its first question, and Redis as it stands."""
    root = twilio.twiml("/twilio/voice")
    return h.next_step(root), h.redis_snapshot(redis)


@pytest.mark.parametrize(("path", "params", "status", "message"), [
    ("/twilio/gather?step={step}", {"CallSid": ""}, 400, "CallSid is missing"),
    ("/twilio/gather?step={step}", JUNK_SID, 400, "CallSid is not a Twilio call SID"),
    ("/twilio/gather?step={step}", {"Digits": "12ab"}, 400, "Digits may hold only"),
    ("/twilio/gather?step={step}", {"Digits": "1" * 65}, 400, "Digits may hold only"),
    ("/twilio/gather?step={step}", {"SpeechResult": "да" * 600}, 400, "SpeechResult is too long"),
    ("/twilio/gather?step={step}", {"SpeechResult": "да", "Confidence": "sure"}, 400, "Confidence"),
    ("/twilio/gather?step={step}", {"SpeechResult": "да", "Confidence": "7"}, 400, "between 0 and 1"),
    ("/twilio/gather?step={step}", {"Caller": "x" * 5000}, 400, "parameter Caller is too long"),
    ("/twilio/gather", {"Digits": "1"}, 400, "step is missing"),
    ("/twilio/gather?step=abc", {"Digits": "1"}, 400, "step is missing or not a number"),
    ("/twilio/voice", {"From": "<script>"}, 400, "From is not a phone number"),
    ("/twilio/recorded?step={step}&clip=../../x", {"RecordingDuration": "3"}, 400, "clip"),
    ("/twilio/recorded?step={step}&clip=c1", {"RecordingSid": "junk"}, 400, "RecordingSid"),
    ("/twilio/recorded?step={step}&clip=c1", {"RecordingUrl": "http://evil"}, 400, "https"),
    ("/twilio/recorded?step={step}&clip=c1", {"RecordingDuration": "²"}, 400, "RecordingDuration"),
    ("/twilio/recorded?step={step}&clip=c1", {"RecordingDuration": "9" * 5000}, 400, "RecordingDuration"),
    ("/twilio/status", {"CallStatus": "exploded"}, 400, "CallStatus"),
    ("/twilio/callback/bad$id", {}, 400, "callback id"),
])
def test_bad_parameters_are_refused(twilio, redis, started, h, path, params, status, message) -> None:
    step, before = started
    path = path.format(step=step)
    response = twilio.post(path, **params)
    assert response.status_code == status
    assert message in response.get_data(as_text=True)
    assert h.redis_snapshot(redis) == before


def test_a_huge_body_is_refused(twilio, redis, started, h) -> None:
    step, before = started
    response = twilio.post(f"/twilio/gather?step={step}", Digits="1", Junk="x" * 100_000)
    assert response.status_code == 413 and "request body over" in response.get_data(as_text=True)
    assert h.redis_snapshot(redis) == before


@pytest.mark.parametrize(("content_type", "body"), [
    ("application/json", '{"CallSid": "CA0123456789abcdef0123456789abcdef", "Digits": "1"}'),
    ("text/plain", "CallSid=CA0123456789abcdef0123456789abcdef&Digits=1"),
    ("multipart/form-data; boundary=x", "--x--"),
])
def test_wrong_content_type_is_refused(twilio, redis, started, h, content_type: str, body: str) -> None:
    step, before = started
    path = f"/twilio/gather?step={step}"
    response = twilio.client.post(path, data=body, content_type=content_type,
                                  headers={"X-Twilio-Signature": twilio.sign(path, {})})
    assert response.status_code == 415
    assert "application/x-www-form-urlencoded" in response.get_data(as_text=True)
    assert h.redis_snapshot(redis) == before


def test_wrong_method_is_a_405(twilio) -> None:
    assert twilio.client.get("/twilio/voice").status_code == 405


def test_unexpected_failure_is_polite_twiml_and_changes_nothing(twilio, world, redis, caplog, h) -> None:
    root = twilio.twiml("/twilio/voice")
    for params in ({"Digits": "1"}, {"SpeechResult": "Иванов Иван Иванович", "Confidence": "0.9"},
                   {"Digits": "500100732259"}, {"Digits": "1"}, {"Digits": "0"}):
        root = twilio.twiml(f"/twilio/gather?step={h.next_step(root)}", **params)
    before = h.redis_snapshot(redis)
    world.fail_enqueue = True
    response = twilio.post(f"/twilio/gather?step={h.next_step(root)}", SpeechResult="да", Confidence="0.9")
    assert response.status_code == 200
    root = ET.fromstring(response.get_data())
    assert [child.tag for child in root] == ["Say", "Hangup"] and root[0].text == POLITE_GOODBYE
    assert h.redis_snapshot(redis) == before
    logged = caplog.text
    assert "RuntimeError" in logged
    assert "500100732259" not in logged and "Иванов" not in logged and h.CALLER not in logged
    # the exception message carried the caller and ИНН: it is not logged, only its type and frames


def test_a_huge_body_without_a_length_is_refused(twilio, redis, started, h) -> None:
    import io

    step, before = started
    path = f"/twilio/gather?step={step}"
    body = io.BytesIO(b"CallSid=" + b"x" * 100_000)
    response = twilio.client.post(path, input_stream=body, content_type="application/x-www-form-urlencoded",
                                  headers={"X-Twilio-Signature": "x", "Transfer-Encoding": "chunked"})
    # Refused either way: 413 where the server streams the body, 403 where the body never
    # reaches the form (Werkzeug's test environ does not stream chunked input).
    assert response.status_code in (403, 413)
    assert h.redis_snapshot(redis) == before
