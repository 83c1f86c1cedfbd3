"""A whole engine run with every log line captured to a file, grepped for the personal
data the callers gave: not one synthetic ИНН, СНИЛС, phone number or name may appear.

The run: FastAGI calls over loopback into the real engine on a real redis-server (a
wrong ИНН then the right one, a СНИЛС, a callback to a typed number, an operator
hand-over, hang-ups mid-prompt and during the readback, garbage on the socket), and
Twilio webhooks on the same engine (the name heard by Twilio's recogniser, an ИНН,
a webhook that fails with personal data in its exception, an unsigned request).
Logging is at DEBUG, so redis-py, werkzeug and every engine module write all they
have; the masking filter is the only thing between them and the file.
"""

from __future__ import annotations

import calendar
import json
import logging
import re
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from twilio.request_validator import RequestValidator

from ivr.asterisk.dialer import AsteriskCallbackDialer
from ivr.asterisk.peer import default_env
from ivr.asterisk.wiring import fastagi_server
from ivr.engine import Engine
from ivr.identity import corrupt_checksum, synthetic_inn, synthetic_snils
from ivr.ops.logging import configure_logging
from ivr.twilio import (
    CallStore,
    FilePromptSource,
    StaticMenus,
    load_prompt_texts,
    make_twilio_blueprint,
)
from ivr.web.app import create_app, create_ops_app

from .callers import MenuCaller, place_call

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "asterisk"))

ROOT = Path(__file__).resolve().parents[2]
NOON = calendar.timegm((2026, 3, 18, 9, 0, 0))  # Wednesday 12:00 Moscow: every queue open
TOKEN = "ops-test-token-0123456789abcdef"

INNS = [synthetic_inn(7301), synthetic_inn(7302), synthetic_inn(7303), synthetic_inn(7304)]
WRONG_INN = corrupt_checksum(INNS[0])
SNILS = synthetic_snils(7301)
SNILS_DIGITS = re.sub(r"\D", "", SNILS)
CALLERS = ["+79990073011", "+79990073012", "+79990073013", "+79990073014", "+79990073015"]
CALLBACK = "89990073099"
NAME = "Синтетиков Тестомир Проверович"
TWILIO_SID = "CA" + "7301" * 8
TWILIO_SID_2 = "CA" + "7302" * 8


def secrets() -> list[str]:
    """Every form a number may take in a line, and each part of the name."""
    out = [*INNS, WRONG_INN, SNILS, SNILS_DIGITS, NAME, *NAME.split()]
    for phone in [*CALLERS, "+7" + CALLBACK[1:]]:
        digits = phone.lstrip("+")
        out += [phone, digits, "8" + digits[1:], digits[1:]]
    out.append(CALLBACK)
    return out


@pytest.fixture
def log_file(tmp_path: Path) -> Iterator[Path]:
    path = tmp_path / "engine.log"
    handler = configure_logging(path=path, level=logging.DEBUG)
    yield path
    logging.getLogger().removeHandler(handler)
    handler.close()
    logging.getLogger().setLevel(logging.WARNING)


def twilio_app(engine: Engine, tmp_path: Path, *, fail_for: str) -> Flask:
    """The engine's HTTP app with the Twilio webhooks composed on the same engine."""

    class FailingServices:
        """A routing engine that fails one call with personal data in the exception."""

        def __init__(self) -> None:
            self.inner = engine.services()

        def __getattr__(self, name: str) -> Any:
            return getattr(self.inner, name)

        def enqueue(self, ctx, action, at):  # type: ignore[no-untyped-def]
            if ctx.call_id == fail_for:
                raise RuntimeError(f"routing refused {ctx.caller}, ИНН {ctx.inn}, {ctx.name}")
            return self.inner.enqueue(ctx, action, at)

    return create_app(engine, twilio=make_twilio_blueprint(
        menus=StaticMenus({"hotline": engine.menus.get("hotline")}, entry="hotline"),
        services_factory=FailingServices,
        store=CallStore(engine.redis, prefix=engine.config.redis.prefix, ttl=3600, lock_wait=0.5),
        prompts=FilePromptSource(texts=load_prompt_texts(ROOT / "prompts", ["ru", "en"]),
                                 sounds_dir=tmp_path / "sounds"),
        dialer=None, auth_token=TOKEN, public_url=None, clock=engine.clock,
        observer=engine.observer, on_error=engine.metrics.webhook_error,
    ))


class Twilio:
    def __init__(self, app: Flask, sid: str, caller: str) -> None:
        self.client = app.test_client()
        self.validator = RequestValidator(TOKEN)
        self.sid, self.caller = sid, caller
        self.step = 0

    def post(self, path: str, **params: str) -> str:
        data = {"CallSid": self.sid, "AccountSid": "AC" + "a" * 32, "From": self.caller,
                "To": "+78005553535", "CallStatus": "in-progress", **params}
        url = path if "?" in path or path.endswith(("/voice", "/status")) else f"{path}?step={self.step}"
        signature = self.validator.compute_signature("http://localhost" + url, data)
        response = self.client.post(url, data=data, headers={"X-Twilio-Signature": signature})
        body = response.get_data(as_text=True)
        steps = re.findall(r"step=(\d+)", body)
        if steps:
            self.step = int(steps[0])
        return body


def to_the_queue(call: Twilio) -> str:
    """The Twilio menu after the greeting: Russian, the name from Twilio's recogniser, an ИНН,
    confirmed, payments; the reply to the topic (this app records nothing, so no consent is
    asked: the call goes to its queue)."""
    call.post("/twilio/gather", Digits="1")
    call.post("/twilio/gather", SpeechResult=NAME, Confidence="0.93")
    call.post("/twilio/gather", Digits=INNS[3])
    call.post("/twilio/gather", Digits="1")
    return call.post("/twilio/gather", Digits="4")


def test_no_synthetic_number_or_name_in_a_whole_runs_log(make_engine, log_file: Path, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from tests.asterisk.fake_asterisk import FakeCall, ScriptedCaller

    t0 = time.monotonic()
    engine = make_engine(clock=lambda: NOON + time.monotonic() - t0)
    # Behind an Asterisk with AMI, which can place callbacks (none comes due in this run).
    engine.dialers["asterisk"] = AsteriskCallbackDialer(router=engine.router)
    server = fastagi_server(engine, ("127.0.0.1", 0))
    server.start()
    logging.getLogger("tests.ops").info("run starts: %d callers", len(CALLERS))
    try:
        engine.tick()
        # 1. a wrong ИНН, then the right one; payments; a callback to another number
        a = place_call(server.address, MenuCaller(numbers=[WRONG_INN, INNS[0]], callback=CALLBACK),
                       default_env(caller=CALLERS[0].lstrip("+"), uniqueid="a.1"))
        assert a.hung_up_by_engine and "callback.booked" in a.heard
        # 2. a СНИЛС; special cases (no callback there); an operator takes the call
        engine.router.set_operator_state("op104", "available")
        b = place_call(server.address, MenuCaller(numbers=[SNILS_DIGITS], topic="7"),
                       default_env(caller=CALLERS[1].lstrip("+"), uniqueid="b.1"))
        assert b.variables.get("IVR_STATUS") == "connect"
        # 3. hangs up while asked for the number; 4. during the readback of the ИНН ("вы ввели ...")
        place_call(server.address, MenuCaller(hang_up_at="identity.enter_number"),
                   default_env(caller=CALLERS[2].lstrip("+"), uniqueid="c.1"))
        d = place_call(server.address, MenuCaller(numbers=[INNS[1]], hang_up_at="common.you_entered"),
                       default_env(caller=CALLERS[3].lstrip("+"), uniqueid="d.1"))
        assert d.hung_up_by_caller
        # 5. garbage on the socket in the middle of the ИНН entry
        FakeCall(caller=ScriptedCaller("1" + INNS[2]), faults={6: "garbage"},
                 env=default_env(caller=CALLERS[4].lstrip("+"), uniqueid="e.1")).run(server.address)
        deadline = time.monotonic() + 5
        while server.active_calls and time.monotonic() < deadline:
            time.sleep(0.01)
        engine.tick()

        # Twilio: the name from Twilio's recogniser, an ИНН, hold, the end
        app = twilio_app(engine, tmp_path, fail_for=TWILIO_SID_2)
        t = Twilio(app, TWILIO_SID, CALLERS[0])
        assert "<Gather" in t.post("/twilio/voice")
        held = to_the_queue(t)
        assert "<Play" in held or "<Say" in held
        t.post("/twilio/wait")
        t.post("/twilio/status", CallStatus="completed")
        # a webhook that fails with the caller's data in its exception
        u = Twilio(app, TWILIO_SID_2, CALLERS[1])
        u.post("/twilio/voice")
        goodbye = to_the_queue(u)
        assert "<Hangup" in goodbye
        # an unsigned webhook
        assert app.test_client().post("/twilio/voice", data={"CallSid": TWILIO_SID, "From": CALLERS[2]}
                                      ).status_code == 403
        engine.tick()
        assert create_ops_app(engine).test_client().get("/metrics").status_code == 200
    finally:
        server.shutdown(1.0)

    text = log_file.read_text(encoding="utf-8")
    lines = [json.loads(line) for line in text.splitlines()]
    assert len(lines) > 40
    leaks = [s for s in secrets() if s in text]
    assert leaks == [], f"personal data in the log: {leaks}"
    # the log is worth reading: the calls are there, by id, with masked numbers
    ids = {line["call_id"] for line in lines}
    assert {"a.1", "b.1", "c.1", "d.1", "e.1", TWILIO_SID, TWILIO_SID_2} <= ids
    ended = {line["call_id"]: line for line in lines if line["logger"] == "ivr.calls"}
    assert ended["a.1"]["outcome"] == "callback" and ended["b.1"]["outcome"] == "connected"
    assert ended["a.1"]["context"]["inn"] == "********" + INNS[0][-4:]
    assert ended[TWILIO_SID]["context"]["name"]["text"] == "С********* Т. П."
    assert any(line["msg"].startswith("DigitsEntered(digits='********") for line in lines)
    assert any(line["logger"] == "ivr.twilio.blueprint" and line["level"] == "ERROR" for line in lines)
    assert engine.metrics.registry.get_sample_value(
        "ivr_webhook_errors_total", {"kind": "failed_RuntimeError"}) == 1
    assert engine.metrics.registry.get_sample_value(
        "ivr_webhook_errors_total", {"kind": "rejected_403"}) == 1
