"""The REST side, captured through the injected twilio HttpClient: bridging a
waiting call to its operator, placing a callback, fetching a recording."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest

from ivr.twilio import Assignment, UnsupportedEndpoint

API = "https://api.twilio.com/2010-04-01/Accounts"


def to_queue(twilio, h) -> ET.Element:
    root = twilio.twiml("/twilio/voice")
    for params in ({"Digits": "1"}, {"SpeechResult": "Иванов Иван Иванович", "Confidence": "0.9"},
                   {"Digits": ""}, {"Digits": "0"}, {"SpeechResult": "да", "Confidence": "0.9"}):
        root = twilio.twiml(f"/twilio/gather?step={h.next_step(root)}", **params)
    assert root[-1].text.startswith("/twilio/wait")
    return root


def test_live_wait_webhook_dials_the_assigned_operator(twilio, world, h, texts) -> None:
    root = to_queue(twilio, h)
    world.polls = [{"operator": "op101", "endpoint": "client:op101"}]
    root = twilio.twiml(f"/twilio/wait?step={h.next_step(root)}")
    assert h.shape(root) == ("Response", (), "", (
        ("Say", (("language", "ru-RU"),), texts["ru"]["queue.connecting"], ()),
        # the bridge reports back: <Dial action> when it is over, the operator leg's status
        ("Dial", (("action", "/twilio/dialled?step=7&operator=op101"), ("method", "POST"),
                  ("record", "record-from-answer-dual"),
                  ("recordingStatusCallback", "/twilio/recording-status?clip=operator-op101"),
                  ("recordingStatusCallbackMethod", "POST")), "",
         (("Client", (("statusCallback", "/twilio/operator-leg?operator=op101"), ("statusCallbackEvent", "answered completed"),
                   ("statusCallbackMethod", "POST")), "op101", ()),)),
    ))
    [ctx] = world.ended
    assert ctx.outcome == "connected"


def test_assignment_mid_hold_is_bridged_through_the_rest_api(make_app, world, http, redis, h) -> None:
    app = make_app(public_url="https://ivr.example.ru")
    twilio = h.Twilio(app.test_client(), base="https://ivr.example.ru")
    root = to_queue(twilio, h)
    calls = app.blueprints["twilio"].calls

    assert calls.bridge_assigned(h.CALL_SID, Assignment("op104", "sip:op104@pbx.example.ru")) is True

    [request] = http.requests
    assert request.method == "POST"
    assert request.url == f"{API}/{h.ACCOUNT}/Calls/{h.CALL_SID}.json"
    assert request.auth == (h.ACCOUNT, h.TOKEN)
    sent = ET.fromstring(request.data["Twiml"])
    assert h.verbs(sent) == ["Say", "Dial"]
    dial = sent.find("Dial")
    assert dial is not None and dial.get("recordingStatusCallback", "").startswith("https://ivr.example.ru/")
    assert dial.get("action", "").startswith("https://ivr.example.ru/twilio/dialled?")
    assert h.shape(dial[0]) == ("Sip", (("statusCallback", "https://ivr.example.ru/twilio/operator-leg?operator=op104"), ("statusCallbackEvent", "answered completed"),
                   ("statusCallbackMethod", "POST")),
                                "sip:op104@pbx.example.ru", ())
    assert world.ended[0].outcome == "connected"
    # the hold's own /wait arrives late: it gets the bridged TwiML, no second poll
    late = twilio.post(f"/twilio/wait?step={h.next_step(root)}").get_data(as_text=True)
    assert late == request.data["Twiml"] and world.polled == 0
    # a second assignment for a call already bridged is refused
    assert calls.bridge_assigned(h.CALL_SID, Assignment("op101", "client:op101")) is False
    assert len(http.requests) == 1


def test_bridge_is_refused_when_the_call_is_not_waiting(make_app, http, h) -> None:
    app = make_app(public_url="https://ivr.example.ru")
    twilio = h.Twilio(app.test_client(), base="https://ivr.example.ru")
    twilio.twiml("/twilio/voice")  # still in the menu
    calls = app.blueprints["twilio"].calls
    assert calls.bridge_assigned(h.CALL_SID, Assignment("op101", "client:op101")) is False
    assert calls.bridge_assigned("CA" + "9" * 32, Assignment("op101", "client:op101")) is False
    assert http.requests == []


def test_failed_rest_bridge_changes_no_state(make_app, http, redis, h) -> None:
    app = make_app(public_url="https://ivr.example.ru")
    twilio = h.Twilio(app.test_client(), base="https://ivr.example.ru")
    to_queue(twilio, h)
    snapshot = h.redis_snapshot(redis)
    with pytest.raises(UnsupportedEndpoint):
        app.blueprints["twilio"].calls.bridge_assigned(h.CALL_SID, Assignment("op101", "PJSIP/op101"))
    assert http.requests == [] and h.redis_snapshot(redis) == snapshot


def test_dialer_bridge_sends_a_bare_dial(dialer, http, h) -> None:
    dialer.bridge(h.CALL_SID, "+74951234567")
    [request] = http.requests
    assert request.url == f"{API}/{h.ACCOUNT}/Calls/{h.CALL_SID}.json"
    assert h.shape(ET.fromstring(request.data["Twiml"])) == (
        "Response", (), "", (("Dial", (), "", (("Number", (), "+74951234567", ()),)),))


def test_callback_is_placed_with_calls_create_and_bridges_when_answered(app, http, redis, h, texts) -> None:
    calls = app.blueprints["twilio"].calls
    sid = calls.place_callback("cb-42", "+79161234567", "client:op101", record=True, appeal="2603100001")

    [request] = http.requests
    assert (request.method, request.url) == ("POST", f"{API}/{h.ACCOUNT}/Calls.json")
    assert request.data["To"] == "+79161234567" and request.data["From"] == h.HOTLINE
    assert request.data["Url"] == "https://ivr.example.ru/twilio/callback/cb-42"
    assert request.data["StatusCallback"] == "https://ivr.example.ru/twilio/callback/cb-42/status"
    assert sid.startswith("CA") and len(sid) == 34

    callback = h.Twilio(app.test_client())
    callback.call_sid = sid
    root = callback.twiml("/twilio/callback/cb-42", From=h.HOTLINE, To="+79161234567")
    ru = texts["ru"]
    assert [el.text for el in root.iter("Say")] == [ru["callback.greeting"], ru["common.your_appeal"],
                                                    "2 6 0 3 1 0 0 0 0 1"]
    dial = root.find("Dial")
    assert dial is not None and dial.get("record") == "record-from-answer-dual"
    assert h.shape(dial[0]) == ("Client", (), "op101", ())
    # the callback call's status arrives for a CallSid with no menu state: nothing breaks
    assert callback.post("/twilio/status", CallStatus="completed").status_code == 204


def test_callback_to_an_asterisk_endpoint_is_refused_before_dialling(app, http) -> None:
    with pytest.raises(UnsupportedEndpoint, match="Asterisk"):
        app.blueprints["twilio"].calls.place_callback("cb-1", "+79161234567", "PJSIP/op101")
    assert http.requests == []


def test_unknown_callback_ends_politely(twilio) -> None:
    root = twilio.twiml("/twilio/callback/cb-unknown")
    assert [child.tag for child in root] == ["Say", "Hangup"]


def test_recording_status_hands_the_file_to_the_recordings_hook(app, twilio, http, h) -> None:
    url = f"{API}/{h.ACCOUNT}/Recordings/RE{'2' * 32}"
    response = twilio.post("/twilio/recording-status?clip=operator-op101", RecordingSid=f"RE{'2' * 32}",
                           RecordingUrl=url, RecordingStatus="completed", RecordingDuration="42")
    assert response.status_code == 204
    [(call_sid, got_url, clip, fetched)] = app.extensions["recordings"]
    assert (call_sid, got_url, clip) == (h.CALL_SID, url, "operator-op101")
    assert fetched.status_code == 200
    [request] = http.requests
    assert (request.method, request.url, request.auth) == ("GET", url, (h.ACCOUNT, h.TOKEN))


def test_prompt_audio_is_served_when_rendered(app, prompts, h) -> None:
    client = app.test_client()
    assert client.get("/twilio/prompts/ru/welcome.wav").status_code == 404
    (prompts.sounds_dir / "ru").mkdir(parents=True)
    (prompts.sounds_dir / "ru" / "welcome.wav").write_bytes(b"RIFF....WAVE")
    response = client.get("/twilio/prompts/ru/welcome.wav")
    assert response.status_code == 200 and response.data == b"RIFF....WAVE"
    assert response.mimetype == "audio/wav"
    twilio = h.Twilio(client)
    play = twilio.twiml("/twilio/voice").find("Gather/Play")
    assert play is not None and play.text == "/twilio/prompts/ru/welcome.wav"
