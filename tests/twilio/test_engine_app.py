"""The Twilio webhooks as ``ivr serve`` serves them: the engine's own app, routing on Redis."""

from __future__ import annotations

import dataclasses
import shutil
import xml.etree.ElementTree as ET
from pathlib import Path
from urllib.parse import urlencode

import pytest
from twilio.request_validator import RequestValidator

from ivr.config import Config, Secrets
from ivr.engine import Engine, build_engine
from ivr.web.app import create_app
from tests.embedded import embedded_redis

TOKEN = "test-token-0123456789abcdef"
PUBLIC = "https://ivr.example.test"
SID = "CA" + "ab" * 16
T0 = 1_795_500_000.0  # Monday morning in Moscow


@pytest.fixture()
def engine(tmp_path: Path, config: Config) -> Engine:
    operators = {op: dataclasses.replace(spec, endpoint=f"client:{op}") for op, spec in config.operators.items()}
    moved = dataclasses.replace(
        config,
        engine=dataclasses.replace(config.engine, public_url=PUBLIC),
        twilio=dataclasses.replace(config.twilio, account_sid="AC" + "1" * 32, caller_id="+78005553535"),
        recordings=dataclasses.replace(config.recordings, dir=str(tmp_path / "rec")),
        operators=operators,
    )
    return build_engine(moved, Secrets(twilio_auth_token=TOKEN), redis=embedded_redis(str(tmp_path / "r.db")),
                        clock=lambda: T0)


def post(client, path: str, params: dict[str, str], *, token: str = TOKEN):  # type: ignore[no-untyped-def]
    signature = RequestValidator(token).compute_signature(PUBLIC + path, params)
    return client.post(path, data=urlencode(params), content_type="application/x-www-form-urlencoded",
                       headers={"X-Twilio-Signature": signature})


def next_url(xml: bytes) -> str:
    root = ET.fromstring(xml)
    gather = root.find("Gather")
    assert gather is not None, xml
    return gather.attrib["action"]


BASE = {"CallSid": SID, "From": "+79990000001", "To": "+78005553535", "AccountSid": "AC" + "1" * 32}


def walk_to_queue(client) -> str:  # type: ignore[no-untyped-def]
    """Language, name (Twilio's recogniser), ИНН, payments, consent by voice: the wait URL."""
    base = BASE
    url = next_url(post(client, "/twilio/voice", base).data)
    url = next_url(post(client, url, {**base, "Digits": "1"}).data)
    url = next_url(post(client, url, {**base, "SpeechResult": "Иванов Иван Иванович", "Confidence": "0.9"}).data)
    for digits in ["000082246517#", "1", "4"]:
        url = next_url(post(client, url, {**base, "Digits": digits}).data)
    return next_url(post(client, url, {**base, "SpeechResult": "да", "Confidence": "0.9"}).data)


def test_a_callback_is_placed_with_the_rest_api_and_reported_to_routing(engine: Engine, h) -> None:  # type: ignore[no-untyped-def]
    http = h.RecordingHttpClient()
    client = create_app(engine, twilio_http_client=http).test_client()
    url = walk_to_queue(client)
    url = next_url(post(client, url, {**BASE, "Digits": "1"}).data)  # "1": call me back
    post(client, url, {**BASE, "Digits": "1"})  # the caller's own number is right
    assert engine.router.status(SID).state == "callback"
    engine.router.set_operator_state("op102", "available")
    engine.tick()  # the callback's turn: op102 reserved, Twilio asked to call the citizen
    created = [r for r in http.requests if r.method == "POST" and r.url.endswith("/Calls.json")]
    assert len(created) == 1 and created[0].data["To"] == "+79990000001"
    callback_id = "cb-" + SID
    assert created[0].data["Url"] == f"{PUBLIC}/twilio/callback/{callback_id}"
    assert created[0].data["StatusCallback"] == f"{PUBLIC}/twilio/callback/{callback_id}/status"
    outbound = {"CallSid": "CA" + "cd" * 16, "From": "+78005553535", "To": "+79990000001"}
    answered = post(client, f"/twilio/callback/{callback_id}", outbound)
    dial = ET.fromstring(answered.data).find("Dial")
    assert dial is not None and dial.find("Client") is not None and dial.find("Client").text == "op102"  # type: ignore[union-attr]
    assert engine.router.operator_status("op102").state == "on_call"
    over = post(client, f"/twilio/callback/{callback_id}/status", {**outbound, "CallStatus": "completed"})
    assert over.status_code == 204
    assert engine.router.operator_status("op102").state == "wrap_up"


def test_an_unanswered_callback_is_retried_later(engine: Engine, h) -> None:  # type: ignore[no-untyped-def]
    http = h.RecordingHttpClient()
    client = create_app(engine, twilio_http_client=http).test_client()
    url = walk_to_queue(client)
    url = next_url(post(client, url, {**BASE, "Digits": "1"}).data)
    post(client, url, {**BASE, "Digits": "1"})
    engine.router.set_operator_state("op102", "available")
    engine.tick()
    callback_id = "cb-" + SID
    outbound = {"CallSid": "CA" + "cd" * 16, "From": "+78005553535", "To": "+79990000001"}
    post(client, f"/twilio/callback/{callback_id}/status", {**outbound, "CallStatus": "no-answer"})
    request = engine.router.callback(callback_id)
    assert request is not None and request.attempts == 1 and request.next_attempt_at > T0
    assert engine.router.operator_status("op102").state == "available"


def test_a_signed_call_walks_the_menu_into_the_routing_queue(engine: Engine) -> None:
    client = create_app(engine).test_client()
    base = BASE
    reply = post(client, "/twilio/voice", base)
    assert reply.status_code == 200
    url = next_url(reply.data)
    for digits in ["1"]:
        url = next_url(post(client, url, {**base, "Digits": digits}).data)
    # the name: Twilio's recogniser heard it
    url = next_url(post(client, url, {**base, "SpeechResult": "Иванов Иван Иванович", "Confidence": "0.9"}).data)
    for digits in ["000082246517#", "1", "4"]:
        url = next_url(post(client, url, {**base, "Digits": digits}).data)
    reply = post(client, url, {**base, "SpeechResult": "да", "Confidence": "0.9"})
    assert reply.status_code == 200
    status = engine.router.status(SID)
    assert status.state == "waiting" and status.position == 1


def test_forged_and_unsigned_requests_are_refused_and_change_nothing(engine: Engine) -> None:
    client = create_app(engine).test_client()
    base = {"CallSid": SID, "From": "+79990000001", "To": "+78005553535"}
    assert post(client, "/twilio/voice", base, token="forged").status_code == 403
    unsigned = client.post("/twilio/voice", data=urlencode(base), content_type="application/x-www-form-urlencoded")
    assert unsigned.status_code == 403
    assert engine.redis.keys("*twilio*") == []


def test_a_waiting_call_is_bridged_with_the_rest_api_as_soon_as_an_operator_is_reserved(
    engine: Engine, h  # type: ignore[no-untyped-def]
) -> None:
    http = h.RecordingHttpClient()
    client = create_app(engine, twilio_http_client=http).test_client()
    walk_to_queue(client)  # on hold now
    engine.router.set_operator_state("op102", "available")  # routing reserves op102 for the call
    engine.tick()
    updates = [r for r in http.requests if r.method == "POST" and r.url.endswith(f"/Calls/{SID}.json")]
    assert len(updates) == 1
    dial = ET.fromstring(updates[0].data["Twiml"]).find("Dial")
    assert dial is not None and dial.find("Client").text == "op102"  # type: ignore[union-attr]
    engine.tick()  # another process (or tick) sees the same event: no second bridge
    assert len([r for r in http.requests if r.url.endswith(f"/Calls/{SID}.json")]) == 1


def test_twilio_callers_hear_the_prompts_the_engine_accepted(tmp_path: Path, config: Config) -> None:
    """A prompt edit is spoken from the next reload on; an edit the engine refuses (the menu
    uses a prompt it removes) is never spoken: the accepted texts go on."""
    prompts = tmp_path / "prompts"
    shutil.copytree(Path(config.path(config.prompts.dir)), prompts)
    moved = dataclasses.replace(
        config, engine=dataclasses.replace(config.engine, public_url=PUBLIC),
        prompts=dataclasses.replace(config.prompts, dir=str(prompts), sounds_dir=str(tmp_path / "no-sounds")),
        recordings=dataclasses.replace(config.recordings, dir=str(tmp_path / "rec")))
    engine = build_engine(moved, Secrets(twilio_auth_token=TOKEN), redis=embedded_redis(str(tmp_path / "r.db")),
                          clock=lambda: T0)
    client = create_app(engine).test_client()

    def welcome(sid: str) -> str:
        said = ET.fromstring(post(client, "/twilio/voice", {**BASE, "CallSid": sid}).data).iter("Say")
        return " ".join(s.text or "" for s in said)

    ru = prompts / "ru.yaml"
    original = ru.read_text(encoding="utf-8")
    assert "Здравствуйте!" in welcome("CA" + "01" * 16)
    ru.write_text(original.replace("Здравствуйте!", "Добрый день!"), encoding="utf-8")
    assert engine.menus.reload().changed
    assert "Добрый день!" in welcome("CA" + "02" * 16)
    # Refused: menu.main is gone (renamed), so the whole edit is, the new welcome with it.
    ru.write_text(original.replace("Здравствуйте!", "СЛОМАНО").replace("  main: >-", "  mainX: >-"),
                  encoding="utf-8")
    assert not engine.menus.reload().changed and engine.menus.refused is not None
    heard = welcome("CA" + "03" * 16)
    assert "Добрый день!" in heard and "СЛОМАНО" not in heard
