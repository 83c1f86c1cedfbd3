"""A call behind Twilio resumes, webhook after webhook, on the menu version it started with,
even when a supervisor publishes a new version in the middle of it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ivr.config import Config, Secrets
from ivr.engine import build_engine
from ivr.twilio.state import CallStore
from ivr.web.app import create_app
from routing.redis_conn import connect
from tests.console.conftest import Clock, Console, console_config
from tests.twilio.test_engine_app import PUBLIC, SID, TOKEN, next_url, post


def test_a_twilio_call_in_progress_keeps_its_version(config: Config, tmp_path: Path, redis_server: Any,
                                                     user_hashes: Any, clock: Clock) -> None:
    cfg = console_config(config, tmp_path, user_hashes, public_url=PUBLIC)
    engine = build_engine(cfg, Secrets(twilio_auth_token=TOKEN, secret_key="k"),
                          redis=connect(redis_server.url, embedded_dir=str(tmp_path)), clock=clock)
    app = create_app(engine)
    client = app.test_client()
    base = {"CallSid": SID, "From": "+79990000001", "To": "+78005553535", "AccountSid": "AC" + "0" * 32}
    url = next_url(post(client, "/twilio/voice", base).data)
    url = next_url(post(client, url, {**base, "Digits": "1"}).data)  # Russian; now asked for the name

    sveta = Console(app, "sveta")
    text = sveta.get("/supervisor/api/menus/hotline").json["text"]
    published = sveta.publish("hotline", text.replace("topic: payments,", "topic: payments.online,"), base=None)
    assert published.json["serving"] == 2

    url = next_url(post(client, url, {**base, "SpeechResult": "Иванов Иван Иванович", "Confidence": "0.9"}).data)
    for digits in ["000082246517#", "1"]:
        url = next_url(post(client, url, {**base, "Digits": digits}).data)
    post(client, url, {**base, "Digits": "4"})  # payments; no recording key here: no consent question
    stored = CallStore(engine.redis, prefix=cfg.redis.prefix).load(SID)
    assert stored is not None
    assert stored.state.context.menu_version == 1 and stored.state.context.topic == "payments"  # not .online
