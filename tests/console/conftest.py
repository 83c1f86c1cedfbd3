"""The console suite: a real engine on a real Redis, the Flask app, users of every role.

Every test gets its own key prefix on one Redis server (its own hash tag), its own
recordings, audit logs and clip directory, and a clock it can move.  Passwords are
hashed with cheap PBKDF2 here (the real ``ivr users add`` uses werkzeug's default).
"""

from __future__ import annotations

import base64
import dataclasses
import datetime as dt
import os
import re
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.security import generate_password_hash

from ivr.call import CallRunner
from ivr.config import Config, Secrets
from ivr.config.schema import UserConfig
from ivr.engine import Engine, build_engine
from ivr.flow import events as e
from ivr.web.app import create_app
from routing.redis_conn import connect
from tests.clock import ManualClock
from tests.redis_servers import RedisServer

# Wednesday 18 March 2026, 12:00 Moscow time: every topic queue is open.
T0 = dt.datetime(2026, 3, 18, 12, 0, tzinfo=ZoneInfo("Europe/Moscow")).timestamp()
PASSWORD = "correct horse battery"
USERS = {
    "olga": ("operator", "op102"),    # payments, technical
    "oleg": ("operator", "op101"),    # general, sign-in
    "sveta": ("supervisor", None),
    "anton": ("auditor", None),
}
ROLE_USER = {"operator": "olga", "supervisor": "sveta", "auditor": "anton"}
INN = "000082246517"  # synthetic (region 00 is never issued)


class Clock(ManualClock):
    start = T0


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    server = RedisServer().start()
    yield server
    server.close()


@pytest.fixture(scope="session")
def user_hashes() -> dict[str, UserConfig]:
    digest = generate_password_hash(PASSWORD, method="pbkdf2:sha256:1000")
    return {name: UserConfig(role=role, password_hash=digest, operator=op)  # type: ignore[arg-type]
            for name, (role, op) in USERS.items()}


def console_config(config: Config, tmp_path: Path, users: dict[str, UserConfig], **engine_kw: Any) -> Config:
    return dataclasses.replace(
        config,
        redis=dataclasses.replace(config.redis, prefix="t" + uuid.uuid4().hex[:12]),
        recordings=dataclasses.replace(config.recordings, dir=str(tmp_path / "rec"),
                                       audit_log=str(tmp_path / "audit" / "rec.jsonl"),
                                       deletion_log=str(tmp_path / "audit" / "deleted.jsonl"),
                                       clip_dir=str(tmp_path / "clips"), spool_dir=None),
        console=dataclasses.replace(config.console, audit_log=str(tmp_path / "audit" / "console.jsonl")),
        engine=dataclasses.replace(config.engine, **engine_kw),
        users=users,
    )


@pytest.fixture()
def clock() -> Clock:
    return Clock()


@pytest.fixture()
def engine(config: Config, tmp_path: Path, redis_server: RedisServer, user_hashes: dict[str, UserConfig],
           clock: Clock) -> Engine:
    (tmp_path / "clips").mkdir()
    redis = connect(redis_server.url, embedded_dir=str(tmp_path))
    return build_engine(console_config(config, tmp_path, user_hashes), Secrets(secret_key="test-secret-key"),
                        redis=redis, clock=clock)


@pytest.fixture()
def app(engine: Engine) -> Flask:
    app = create_app(engine)
    app.testing = True
    return app


@pytest.fixture()
def keyed(config: Config, tmp_path: Path, redis_server: RedisServer, user_hashes: dict[str, UserConfig],
          clock: Clock) -> tuple[Engine, Flask]:
    """An engine with a recording key (clips and recordings are kept), and its app."""
    (tmp_path / "clips").mkdir()
    key = "k1:" + base64.b64encode(os.urandom(32)).decode()
    engine = build_engine(console_config(config, tmp_path, user_hashes), Secrets(secret_key="k", recording_key=key),
                          redis=connect(redis_server.url, embedded_dir=str(tmp_path)), clock=clock)
    app = create_app(engine)
    app.testing = True
    return engine, app


def csrf_of(client: FlaskClient, path: str = "/login") -> str:
    page = client.get(path).get_data(as_text=True)
    match = re.search(r'name="csrf-token" content="([^"]+)"', page)
    assert match, page[:300]
    return match.group(1)


def login(client: FlaskClient, user: str, password: str = PASSWORD, **environ: Any) -> Any:
    token = csrf_of(client)
    return client.post("/login", data={"username": user, "password": password, "csrf_token": token},
                       environ_base=environ)


class Console:
    """A logged-in browser-like client: keeps the CSRF token for API calls."""

    def __init__(self, app: Flask, user: str) -> None:
        self.client = app.test_client()
        self.user = user
        response = login(self.client, user)
        assert response.status_code == 302, response.get_data(as_text=True)
        self.csrf = csrf_of(self.client, response.headers["Location"])

    def get(self, url: str, **kw: Any) -> Any:
        return self.client.get(url, **kw)

    def post(self, url: str, json: Any = None, **kw: Any) -> Any:
        headers = {"X-CSRF-Token": self.csrf, **kw.pop("headers", {})}
        return self.client.post(url, json=json if json is not None else {}, headers=headers, **kw)

    def publish(self, menu: str, text: str, *, base: int | None, comment: str = "") -> Any:
        """Publish as a supervisor who has seen the scenarios that fail on ``text`` (they
        are shown on the first try) and publishes anyway."""
        url = f"/supervisor/api/menus/{menu}/publish"
        reply = self.post(url, {"text": text, "base": base, "comment": comment})
        if reply.status_code == 409 and reply.json["error"] == "scenarios_failed":
            reply = self.post(url, {"text": text, "base": base, "comment": comment,
                                    "accept_failed": reply.json["failed"]})
        return reply


@pytest.fixture()
def as_role(app: Flask) -> Any:
    return lambda role: Console(app, ROLE_USER[role])


def place_call(engine: Engine, call_id: str, *, topic_key: str = "4", at: float | None = None,
               inn: str = INN, caller: str = "+79990000001", name: str | None = "Иванова Мария Петровна",
               clip: str = "name-clip") -> CallRunner:
    """Walk the hotline menu to the queue as a caller would (payments by default)."""
    at = engine.clock() if at is None else at
    runner = CallRunner(menu=engine.menus.get("hotline"), services=engine.services(), clock=engine.clock)
    runner.start(e.CallStarted(call_id, caller, "88005553535", at, appeal=runner.services.allocate_appeal(),
                               speech=name is not None, recording=engine.recordings.enabled))
    runner.handle(e.DigitsEntered("1", at + 1))  # Russian
    if name is not None:
        runner.handle(e.SpeechHeard(name, 0.87, at + 2, clip=clip))
    else:
        runner.handle(e.Recorded(clip, at + 2))
    runner.handle(e.DigitsEntered("12345#", at + 3))  # too short: a failure on the path
    runner.handle(e.DigitsEntered(inn + "#", at + 4))
    runner.handle(e.DigitsEntered("1", at + 5))  # readback confirmed
    runner.handle(e.DigitsEntered(topic_key, at + 6))
    if engine.recordings.enabled:  # asked only where the call can be recorded
        runner.handle(e.DigitsEntered("1", at + 7))  # consent
    return runner


def security_kinds(engine: Engine) -> list[str]:
    key = "{" + engine.config.redis.prefix + "}:console:security"
    import json

    return [json.loads(f[b"e"])["kind"] for _, f in engine.redis.xrange(key)]
