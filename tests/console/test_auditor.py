"""Recordings for the auditor: listen and download only with a reason, through one-time links,
every attempt in the recordings audit; other roles refused there too."""

from __future__ import annotations

import base64
import json
import os
from pathlib import Path
from typing import Any

import pytest
from flask import Flask

from ivr.config import Config, Secrets
from ivr.console.users import UserStore
from ivr.engine import Engine, build_engine
from ivr.recordings.meta import Consent
from ivr.web.app import create_app
from routing.redis_conn import connect
from tests.console.conftest import Clock, Console, console_config, login, security_kinds

AUDIO = b"RIFF" + os.urandom(2000)


@pytest.fixture()
def recorded(config: Config, tmp_path: Path, redis_server: Any, user_hashes: Any, clock: Clock) -> tuple[Engine, Flask, str]:
    key = "k1:" + base64.b64encode(os.urandom(32)).decode()
    engine = build_engine(console_config(config, tmp_path, user_hashes),
                          Secrets(secret_key="k", recording_key=key),
                          redis=connect(redis_server.url, embedded_dir=str(tmp_path)), clock=clock)
    store = engine.recordings.store
    store.initialise()
    meta = store.ingest(AUDIO, call_id="call-r1", consent=Consent(True, clock(), "key", "1"),
                        appeal="0000000018", operator="op102", queue="payments")
    return engine, create_app(engine), meta.id


def rec_audit(engine: Engine) -> list[dict[str, Any]]:
    path = Path(engine.config.path(engine.config.recordings.audit_log))
    return [json.loads(x) for x in path.read_text().splitlines()] if path.exists() else []


def test_listen_and_download_need_a_reason_and_are_audited(recorded: tuple[Engine, Flask, str]) -> None:
    engine, app, rid = recorded
    anton = Console(app, "anton")
    listed = anton.get("/auditor/api/recordings").json
    assert listed["enabled"] and [r["id"] for r in listed["recordings"]] == [rid]
    assert listed["recordings"][0]["operator"] == "op102"
    no_reason = anton.post(f"/auditor/api/recordings/{rid}/access", {"action": "listen", "reason": "  "})
    assert no_reason.status_code == 400
    grant = anton.post(f"/auditor/api/recordings/{rid}/access", {"action": "listen", "reason": "жалоба №17"})
    assert grant.status_code == 200
    audio = anton.get(grant.json["url"])
    assert audio.status_code == 200 and audio.data == AUDIO and audio.mimetype == "audio/wav"
    assert "Content-Disposition" not in audio.headers
    assert anton.get(grant.json["url"]).status_code == 403  # one use only
    download = anton.post(f"/auditor/api/recordings/{rid}/access", {"action": "download", "reason": "запрос гражданина"})
    got = anton.get(download.json["url"])
    assert got.data == AUDIO and "attachment" in got.headers["Content-Disposition"]
    lines = [(x["actor"], x["action"], x["reason"], x["outcome"]) for x in rec_audit(engine)]
    assert lines == [("anton", "listen", "", "refused"), ("anton", "listen", "жалоба №17", "allowed"),
                     ("anton", "redeem_link", "", "refused"),  # the link again: every attempt is here
                     ("anton", "download", "запрос гражданина", "allowed")]
    tail = anton.get("/auditor/api/audit?log=recordings").json
    assert tail["chain"] == "ok" and tail["lines"] == 4 and tail["entries"][0]["action"] == "download"
    assert anton.get("/auditor/api/audit?log=console").json["chain"] == "ok"


def test_a_link_is_only_for_the_auditor_it_was_made_for(recorded: tuple[Engine, Flask, str], caplog: Any) -> None:
    engine, app, rid = recorded
    cfg = engine.config
    UserStore(redis=engine.redis, prefix=cfg.redis.prefix, configured=cfg.users, operators=cfg.operators).add(
        "alla", role="auditor", password="a long enough secret")
    anton = Console(app, "anton")
    url = anton.post(f"/auditor/api/recordings/{rid}/access", {"action": "listen", "reason": "проверка"}).json["url"]
    other = app.test_client()
    login(other, "alla", "a long enough secret")
    with caplog.at_level("WARNING", logger="ivr.console.auth"):
        assert other.get(url).status_code == 403
    assert "bad_grant" in security_kinds(engine)
    [said] = [r.getMessage() for r in caplog.records if "console bad_grant" in r.getMessage()]
    assert "user=alla" in said and "at=" not in said  # the record's own time stamps it
    assert [(x["actor"], x["action"], x["outcome"]) for x in rec_audit(engine)][-1] == ("alla", "redeem_link", "refused")


def test_an_operator_or_supervisor_asking_for_a_recording_is_refused_and_audited(recorded: tuple[Engine, Flask, str]) -> None:
    engine, app, rid = recorded
    for user in ("olga", "sveta"):
        console = Console(app, user)
        response = console.post(f"/auditor/api/recordings/{rid}/access", {"action": "listen", "reason": "интересно"})
        assert response.status_code == 403
        assert console.get(f"/auditor/recordings/{rid}/audio?grant=x").status_code == 403
        assert AUDIO not in response.data
    refused = [(x["actor"], x["role"], x["outcome"]) for x in rec_audit(engine)]
    assert refused == [("olga", "operator", "refused")] * 2 + [("sveta", "supervisor", "refused")] * 2
    assert security_kinds(engine).count("wrong_role") == 4
