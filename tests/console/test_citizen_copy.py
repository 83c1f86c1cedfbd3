"""The citizen's copy (ст. 14 152-ФЗ): the auditor names a ИНН, СНИЛС or phone number and gets one
ZIP with every appeal, call and recording of that citizen and nobody else's; the whole request is
audited, and the number itself is in no log.  Real engine, real Redis, calls walked through the menu."""

from __future__ import annotations

import base64
import datetime as dt
import io
import json
import os
import re
import zipfile
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from flask import Flask

from ivr.call import CallRunner
from ivr.config import Config, Secrets
from ivr.engine import Engine, build_engine
from ivr.flow import events as e
from ivr.identity import synthetic_inn
from ivr.recordings.meta import Consent
from ivr.web.app import create_app
from routing.redis_conn import connect
from tests.console.conftest import INN, Clock, Console, console_config, place_call

OTHER_INN = synthetic_inn(77)
REASON = "запрос гражданина вх. № 5 от 06.12"


@pytest.fixture()
def keyed(config: Config, tmp_path: Path, redis_server: Any, user_hashes: Any, clock: Clock) -> tuple[Engine, Flask]:
    (tmp_path / "clips").mkdir()
    key = "k1:" + base64.b64encode(os.urandom(32)).decode()
    engine = build_engine(console_config(config, tmp_path, user_hashes), Secrets(secret_key="k", recording_key=key),
                          redis=connect(redis_server.url, embedded_dir=str(tmp_path)), clock=clock)
    engine.recordings.store.initialise()
    app = create_app(engine)
    app.testing = True
    return engine, app


def finished_call(engine: Engine, call_id: str, *, inn: str, caller: str) -> CallRunner:
    """A call through the menu to the queue, where the caller hangs up: its appeal opened with the
    caller's ИНН and number, the call in the call log."""
    runner = place_call(engine, call_id, inn=inn, caller=caller)
    runner.handle(e.HungUp(engine.clock() + 9))
    assert runner.done and runner.state is not None and runner.state.context.appeal
    return runner


def recorded(engine: Engine, runner: CallRunner, audio: bytes) -> str:
    ctx = runner.state.context  # type: ignore[union-attr]
    return engine.recordings.store.ingest(audio, call_id=ctx.call_id, appeal=ctx.appeal, queue=ctx.queue,
                                          consent=Consent(True, engine.clock(), "key", "1")).id


def log_lines(engine: Engine, which: str) -> list[dict[str, Any]]:
    path = Path(engine.config.path(which))
    return [json.loads(x) for x in path.read_text().splitlines()] if path.exists() else []


def test_the_citizens_copy_holds_their_appeals_calls_and_recordings_only(keyed: tuple[Engine, Flask]) -> None:
    engine, app = keyed
    first = finished_call(engine, "call-a1", inn=INN, caller="+79990000001")
    second = finished_call(engine, "call-a2", inn=INN, caller="+79990000002")  # another phone, same ИНН
    other = finished_call(engine, "call-b1", inn=OTHER_INN, caller="+79990000003")
    mine = {recorded(engine, first, b"RIFF first" * 300): b"RIFF first" * 300,
            recorded(engine, second, b"RIFF second" * 300): b"RIFF second" * 300}
    recorded(engine, other, b"RIFF not hers" * 300)
    appeals = {first.state.context.appeal, second.state.context.appeal}  # type: ignore[union-attr]
    engine.appeals.set_status(first.state.context.appeal, "awaiting_documents", operator="op102",  # type: ignore[union-attr, arg-type]
                              note="нужна справка")

    anton = Console(app, "anton")
    got = anton.post("/auditor/api/citizen-copy", {"by": "inn", "value": INN, "reason": REASON})
    assert got.status_code == 200, got.get_data(as_text=True)
    assert got.mimetype == "application/zip" and got.headers["Cache-Control"] == "no-store"
    archive = zipfile.ZipFile(io.BytesIO(got.data))
    summary = json.loads(archive.read("summary.json"))
    assert {a["number"] for a in summary["appeals"]} == appeals
    assert {c["call"] for c in summary["calls"]} == {"call-a1", "call-a2"}
    assert {r["id"] for r in summary["recordings"]} == set(mine)
    for rid, audio in mine.items():
        assert archive.read(f"recordings/{rid}.wav") == audio
    assert sorted(archive.namelist()) == sorted(["summary.json", "summary.txt",
                                                 *(f"recordings/{rid}.wav" for rid in mine)])
    text = archive.read("summary.txt").decode()
    assert "Ожидание документов — нужна справка" in text and INN not in text and INN[-4:] in text
    # Russian words for the citizen, not the engine's ids (found trying the product: "Гражданин: INN",
    # "asterisk, тема operator").
    assert "Гражданин: ИНН " in text, text
    assert "тема «Платежи»" in text and "итог: " in text, text
    assert not re.search(r"\b(INN|asterisk|twilio|payments|connected|abandoned)\b", text), text
    # The hotline's time, as the console shows it (seen: UTC, another date after 21:00 MSK).
    made = dt.datetime.fromtimestamp(engine.clock(), ZoneInfo("Europe/Moscow")).strftime("%Y-%m-%d %H:%M")
    assert summary["made"] == f"{made} MSK" and "UTC" not in text, summary["made"]

    by_phone = anton.post("/auditor/api/citizen-copy", {"by": "phone", "value": "8 999 000-00-02", "reason": REASON})
    assert {a["number"] for a in json.loads(zipfile.ZipFile(io.BytesIO(by_phone.data)).read("summary.json"))["appeals"]} \
        == {second.state.context.appeal}  # type: ignore[union-attr]

    console = [x for x in log_lines(engine, engine.config.console.audit_log) if x["action"] == "citizen_copy"]
    assert [(x["actor"], x["outcome"]) for x in console] == [("anton", "allowed")] * 4
    assert "begun for inn " in console[0]["detail"] and REASON in console[0]["detail"]
    assert "2 appeal(s), 2 call(s), 2 recording(s), sha256 " in console[1]["detail"]
    assert got.headers["X-Archive-SHA256"] in console[1]["detail"]
    exports = [x for x in log_lines(engine, engine.config.recordings.audit_log) if x["action"] == "export"]
    assert {x["recording"] for x in exports[:2]} == set(mine) and all(REASON in x["reason"] for x in exports)
    every_log = "".join(Path(engine.config.path(p)).read_text() for p in (
        engine.config.console.audit_log, engine.config.recordings.audit_log))
    assert INN not in every_log and "9990000002" not in every_log
    assert engine.audit is not None and all(r.ok for r in engine.audit.verify())


def test_a_copy_is_refused_without_a_valid_number_a_reason_or_the_role(keyed: tuple[Engine, Flask]) -> None:
    engine, app = keyed
    anton = Console(app, "anton")
    bad = INN[:-1] + str((int(INN[-1]) + 1) % 10)
    refused = anton.post("/auditor/api/citizen-copy", {"by": "inn", "value": bad, "reason": REASON})
    assert refused.status_code == 400 and refused.json["error"] == "bad_identity"
    assert anton.post("/auditor/api/citizen-copy", {"by": "inn", "value": INN, "reason": " "}).status_code == 400
    assert anton.post("/auditor/api/citizen-copy", {"by": "name", "value": "x", "reason": REASON}).status_code == 400
    assert Console(app, "sveta").post("/auditor/api/citizen-copy",
                                      {"by": "inn", "value": INN, "reason": REASON}).status_code == 403
    console = [x for x in log_lines(engine, engine.config.console.audit_log) if x["action"] == "citizen_copy"]
    assert [x["outcome"] for x in console] == ["refused"] * 3
    assert "not a valid inn: checksum" in console[0]["detail"] and bad not in json.dumps(console)
