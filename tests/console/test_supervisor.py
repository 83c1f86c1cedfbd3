"""The supervisors' desk: dashboard figures, the menu editor (checked exactly as `ivr validate`
checks a file, diff, scenarios, publish, roll-back) and the funnel from real call records."""

from __future__ import annotations

import contextlib
import io
import shutil
from pathlib import Path
from typing import Any

import pytest
from flask import Flask

from ivr.call import CallRunner
from ivr.cli import main as ivr_main
from ivr.config import Secrets, load_config
from ivr.console.dashboard import Dashboard
from ivr.engine import Engine, build_engine
from ivr.flow import events as e
from ivr.web.app import create_app
from routing.redis_conn import connect
from tests.console.conftest import Clock, Console, console_config, place_call
from tests.console.test_operator import Stream


@pytest.fixture()
def copied(tmp_path: Path, repo_root: Path, redis_server: Any, user_hashes: Any, clock: Clock) -> tuple[Engine, Flask, Path]:
    """An engine whose config, menus and prompts are a copy (the menu file may be broken on disk)."""
    root = tmp_path / "site"
    root.mkdir()
    shutil.copy(repo_root / "config.yaml", root / "config.yaml")
    shutil.copytree(repo_root / "dialplans", root / "dialplans")
    shutil.copytree(repo_root / "prompts", root / "prompts")
    config = console_config(load_config(root / "config.yaml"), tmp_path, user_hashes)
    (tmp_path / "clips").mkdir()
    engine = build_engine(config, Secrets(secret_key="k"), redis=connect(redis_server.url, embedded_dir=str(tmp_path)),
                          clock=clock)
    app = create_app(engine)
    return engine, app, root / "dialplans" / "hotline.yaml"


def test_the_dashboard_shows_queues_and_operators_and_pushes_updates(app: Flask, engine: Engine,
                                                                     as_role: Any) -> None:
    sveta: Console = as_role("supervisor")
    now = sveta.get("/supervisor/api/dashboard").json
    assert {q["queue"] for q in now["queues"]} >= {"general", "payments", "special"}
    assert now["totals"]["operators"]["offline"] == 4 and now["totals"]["waiting"] == 0
    stream = Stream(sveta.get("/supervisor/events", buffered=False))
    try:
        kind, first = stream.next()
        assert kind == "dashboard" and first["totals"]["waiting"] == 0
        kind, hour = stream.next()
        assert kind == "hour" and len(hour["minutes"]) == 60
        place_call(engine, "call-d1")  # nobody ready: it waits
        kind, pushed = stream.next()
        while pushed["totals"]["waiting"] == 0:
            kind, pushed = stream.next()
    finally:
        stream.close()
    payments = next(q for q in pushed["queues"] if q["queue"] == "payments")
    assert kind == "dashboard" and payments["waiting"] == 1
    minutes = Dashboard(router=engine.router, clock=engine.clock).last_hour()["minutes"]
    assert sum(m["enqueued"] for m in minutes) == 1  # and the hour chart counts it


def test_the_editor_reports_exactly_what_ivr_validate_reports(copied: tuple[Engine, Flask, Path]) -> None:
    _engine, app, path = copied
    sveta = Console(app, "sveta")
    live = sveta.get("/supervisor/api/menus/hotline").json
    assert live["source"] == "file" and live["version"] == 1 and live["base"] is None
    broken = live["text"].replace("    next: language\n", "    next: languag\n", 1)
    line = live["text"].splitlines().index("    next: language") + 1
    checked = sveta.post("/supervisor/api/menus/hotline/validate", {"text": broken}).json
    assert checked["ok"] is False
    assert checked["problems"][0]["line"] == line and "languag" in checked["problems"][0]["message"]
    path.write_text(broken, encoding="utf-8")
    stderr = io.StringIO()
    with contextlib.redirect_stderr(stderr), contextlib.redirect_stdout(io.StringIO()):
        assert ivr_main(["--config", str(path.parents[1] / "config.yaml"), "validate"]) == 1
    printed = [x for x in stderr.getvalue().splitlines() if x.startswith(str(path))]
    assert printed == [p["text"] for p in checked["problems"]]
    assert sveta.post("/supervisor/api/menus/hotline/validate", {"text": live["text"]}).json == {"ok": True, "problems": []}
    renamed = sveta.post("/supervisor/api/menus/hotline/validate", {"text": live["text"].replace("menu: hotline", "menu: other")})
    assert "renamed in its file" in renamed.json["problems"][0]["message"]
    yaml_error = sveta.post("/supervisor/api/menus/hotline/validate", {"text": live["text"] + "\n  bad: [\n"}).json
    assert yaml_error["problems"][0]["line"] >= len(live["text"].splitlines())  # at the end, where it broke


def test_diff_and_scenarios_on_the_edited_text(app: Flask, as_role: Any) -> None:
    sveta: Console = as_role("supervisor")
    text = sveta.get("/supervisor/api/menus/hotline").json["text"]
    edited = (text.replace('"1": {next: topic_login}', "@").replace('"2": {next: topic_recovery}', '"2": {next: topic_login}')
              .replace("@", '"1": {next: topic_recovery}'))  # keys swapped: valid, but not what callers expect
    diff = sveta.post("/supervisor/api/menus/hotline/diff", {"text": edited}).json["diff"]
    assert '-      "2": {next: topic_recovery}' in diff and '+      "2": {next: topic_login}' in diff
    assert "hotline v1 (live, file)" in diff
    good = sveta.post("/supervisor/api/menus/hotline/scenarios", {"text": text}).json
    assert good["results"] and all(r["passed"] for r in good["results"])
    bad = sveta.post("/supervisor/api/menus/hotline/scenarios", {"text": edited}).json
    assert any(not r["passed"] for r in bad["results"])
    broken = sveta.post("/supervisor/api/menus/hotline/scenarios", {"text": text.replace("start: welcome", "start: nowhere")}).json
    assert broken["problems"] and broken["results"] == []


def test_publish_serves_new_calls_keeps_every_version_and_rolls_back(app: Flask, engine: Engine,
                                                                     as_role: Any) -> None:
    sveta: Console = as_role("supervisor")
    text = sveta.get("/supervisor/api/menus/hotline").json["text"]
    refused = sveta.post("/supervisor/api/menus/hotline/publish", {"text": text.replace("start: welcome", "start: x"), "base": None})
    assert refused.status_code == 422 and refused.json["problems"]
    assert engine.menus.versions.live_version("hotline") is None  # type: ignore[union-attr]
    in_progress = place_call(engine, "call-p0")  # started on v1
    edited = text.replace("topic: payments,", "topic: payments.online,")
    published = sveta.publish("hotline", edited, base=None, comment="оплата онлайн")
    assert published.status_code == 200 and published.json["version"] == 2 and published.json["serving"] == 2
    assert engine.menus.get("hotline").version == 2
    new_call = place_call(engine, "call-p1")
    assert new_call.state.context.menu_version == 2 and new_call.state.context.topic == "payments.online"  # type: ignore[union-attr]
    assert in_progress.state.context.menu_version == 1 and in_progress.menu.version == 1  # type: ignore[union-attr]
    stale = sveta.post("/supervisor/api/menus/hotline/publish", {"text": text, "base": None})
    assert stale.status_code == 409 and stale.json["live"] == 2
    opened = sveta.get("/supervisor/api/menus/hotline").json
    assert [(v["version"], v["author"], v["live"]) for v in opened["history"]] == [(2, "sveta", True), (1, "file", False)]
    assert opened["history"][0]["comment"] == "оплата онлайн"
    assert sveta.get("/supervisor/api/menus/hotline/versions/1").json["text"] == text
    back = sveta.post("/supervisor/api/menus/hotline/rollback", {"version": 1, "base": 2})
    assert back.status_code == 200 and back.json["serving"] == 1
    assert place_call(engine, "call-p2").state.context.topic == "payments"  # type: ignore[union-attr]
    assert sveta.post("/supervisor/api/menus/hotline/rollback", {"version": 7, "base": 1}).status_code == 404
    assert [x["action"] for x in sveta.get("/supervisor/api/menus/hotline").json["log"]] == ["publish", "rollback"]
    assert sveta.get("/supervisor/menus").status_code == 200
    assert sveta.get("/supervisor/api/menus/nope").status_code == 404


def _keys_swapped(text: str) -> str:
    """Valid, but not what callers (and the menu's scenarios) expect."""
    return (text.replace('"1": {next: topic_login}', "@").replace('"2": {next: topic_recovery}', '"2": {next: topic_login}')
            .replace("@", '"1": {next: topic_recovery}'))


def test_a_text_the_scenarios_fail_on_is_published_only_with_those_failures_confirmed(
        app: Flask, engine: Engine, as_role: Any) -> None:
    sveta: Console = as_role("supervisor")
    edited = _keys_swapped(sveta.get("/supervisor/api/menus/hotline").json["text"])
    refused = sveta.post("/supervisor/api/menus/hotline/publish", {"text": edited, "base": None})
    assert refused.status_code == 409 and refused.json["error"] == "scenarios_failed"
    failed = refused.json["failed"]
    assert failed and failed == sorted(r["name"] for r in refused.json["results"] if not r["passed"])
    assert engine.menus.versions.live_version("hotline") is None  # type: ignore[union-attr]
    # Confirming only some of them (or others) is not confirming what fails.
    partly = sveta.post("/supervisor/api/menus/hotline/publish",
                        {"text": edited, "base": None, "accept_failed": failed[:-1] + ["another"]})
    assert partly.status_code == 409
    assert sveta.post("/supervisor/api/menus/hotline/publish",
                      {"text": edited, "base": None, "accept_failed": "all"}).status_code == 400
    published = sveta.post("/supervisor/api/menus/hotline/publish",
                           {"text": edited, "base": None, "accept_failed": failed, "comment": "новый порядок"})
    assert published.status_code == 200 and engine.menus.get("hotline").version == published.json["version"]
    opened = sveta.get("/supervisor/api/menus/hotline").json
    assert opened["history"][0]["failed"] == failed and opened["history"][0]["comment"] == "новый порядок"
    assert opened["log"][-1]["failed"] == failed


def test_a_published_menu_is_handed_back_to_its_file(copied: tuple[Engine, Flask, Path]) -> None:
    engine, app, path = copied
    sveta = Console(app, "sveta")
    text = sveta.get("/supervisor/api/menus/hotline").json["text"]
    assert sveta.post("/supervisor/api/menus/hotline/file", {"base": None}).json["error"] == "file_serves"
    published = sveta.publish("hotline", text.replace("topic: payments,", "topic: payments.online,"), base=None)
    assert published.status_code == 200
    version = published.json["version"]
    # A new text still saying "version: 1" would count its calls with v1's: refused.
    path.write_text(text.replace("topic: payments,", "topic: payments.file,"), encoding="utf-8")
    taken = sveta.post("/supervisor/api/menus/hotline/file", {"base": version})
    assert taken.status_code == 409 and taken.json["error"] == "file_version_taken" and taken.json["last"] == version
    # The site deploys a new file meanwhile: not used while the published version serves.
    path.write_text(text.replace("version: 1", "version: 5").replace("topic: payments,", "topic: payments.file,"),
                    encoding="utf-8")
    engine.menus.reload()
    assert place_call(engine, "call-f1").state.context.topic == "payments.online"  # type: ignore[union-attr]
    assert sveta.post("/supervisor/api/menus/hotline/file", {"base": version - 1}).status_code == 409  # stale
    # A broken file would serve nothing: refused, the published version stays.
    good = path.read_text(encoding="utf-8")
    path.write_text(good.replace("start: welcome", "start: nowhere"), encoding="utf-8")
    broken = sveta.post("/supervisor/api/menus/hotline/file", {"base": version})
    assert broken.status_code == 422 and broken.json["error"] == "invalid_file" and broken.json["problems"]
    assert engine.menus.versions.live_version("hotline") == version  # type: ignore[union-attr]
    path.write_text(good, encoding="utf-8")
    back = sveta.post("/supervisor/api/menus/hotline/file", {"base": version})
    assert back.status_code == 200 and back.json["serving"] == 5 and back.json["source"] == "file"
    assert place_call(engine, "call-f2").state.context.topic == "payments.file"  # type: ignore[union-attr]
    opened = sveta.get("/supervisor/api/menus/hotline").json
    assert (opened["source"], opened["version"], opened["base"]) == ("file", 5, None)
    assert [v["version"] for v in opened["history"]] == [version, 1]  # every version kept, for a roll-back
    assert opened["log"][-1]["action"] == "file" and opened["log"][-1]["author"] == "sveta"


def test_the_editor_shows_the_text_that_serves_not_a_file_edit_the_engine_refused(
        copied: tuple[Engine, Flask, Path]) -> None:
    engine, app, path = copied
    sveta = Console(app, "sveta")
    good = path.read_text(encoding="utf-8")
    broken = good.replace("    next: language\n", "    next: languag\n", 1)
    path.write_text(broken, encoding="utf-8")
    assert engine.menus.reload().problems  # refused: the good text serves
    opened = sveta.get("/supervisor/api/menus/hotline").json
    assert opened["text"] == good and opened["source"] == "file" and opened["file_differs"] is True
    assert sveta.post("/supervisor/api/menus/hotline/diff", {"text": good}).json["diff"] == ""
    assert "+    next: languag" in sveta.post("/supervisor/api/menus/hotline/diff", {"text": broken}).json["diff"]
    # A first publish keeps, as the version before it, the text that served, not the broken file.
    published = sveta.publish("hotline", good.replace("topic: payments,", "topic: payments.online,"), base=None)
    assert published.status_code == 200
    assert sveta.get("/supervisor/api/menus/hotline/versions/1").json["text"] == good
    path.write_text(good, encoding="utf-8")
    engine.menus.reload()
    assert sveta.get("/supervisor/api/menus/hotline").json["file_differs"] is False  # published serves


def test_the_funnel_counts_real_calls_per_node(app: Flask, engine: Engine, as_role: Any) -> None:
    engine.router.set_operator_state("op102", "available")
    connected = place_call(engine, "call-f1")  # reserved for op102 at once
    connected.handle(e.NoInput(engine.clock() + 9))  # hold over: poll -> connect
    assert connected.state.context.outcome == "connected"  # type: ignore[union-attr]
    abandoned = place_call(engine, "call-f2")  # nobody free: waits
    abandoned.handle(e.HungUp(engine.clock() + 9))
    runner = CallRunner(menu=engine.menus.get("hotline"), services=engine.services(), clock=engine.clock)
    runner.start(e.CallStarted("call-f3", "+79990000004", "88005553535", engine.clock()))
    runner.handle(e.DigitsEntered("1", engine.clock() + 1))
    runner.handle(e.HungUp(engine.clock() + 3))  # gives up when asked for the name
    funnel = as_role("supervisor").get("/supervisor/api/funnel?menu=hotline&days=1").json
    rows = {r["node"]: r for r in funnel["rows"]}
    assert funnel["calls"] == 3 and funnel["versions"] == [1]
    assert funnel["outcomes"] == {"connected": 1, "abandoned": 1, "hangup": 1}
    assert rows["welcome"]["reached"] == 3 and rows["welcome"]["share"] == 1.0
    assert rows["ask_number"]["invalid"] == 2  # both callers who got there typed 12345 first
    assert rows["ask_name"]["hangup"] == 1 and rows["ask_name"]["reached"] == 3 and rows["ask_number"]["reached"] == 2
    assert rows["queue"]["reached"] == 2 and rows["queue"]["hangup"] == 1
    assert rows["queue"]["exits"] == {"connected": 1, "hangup": 1}
    assert rows["main"]["exits"].get("key:4") == 2
    assert [r["node"] for r in funnel["rows"]][:4] == ["welcome", "language", "ask_name", "ask_number"]
    assert as_role("supervisor").get("/supervisor/api/funnel?menu=hotline&version=9").json["calls"] == 0
    assert as_role("supervisor").get("/supervisor/api/funnel?menu=nope").status_code == 404
    recent = engine.call_log.recent(10)  # type: ignore[union-attr]
    assert len(recent) == 3 and "caller" not in recent[0] and "+7999" not in str(recent)


def test_the_dashboard_flags_an_operator_who_missed_calls_in_a_row(app: Flask, engine: Engine, as_role: Any) -> None:
    """After routing.missed_calls_alert missed calls in a row (3), the supervisor sees the
    operator flagged, and why he is not ready; answering a call clears it."""
    from ivr.aftermenu import OperatorAnswered, OperatorMissed

    sveta: Console = as_role("supervisor")
    alert = engine.config.routing.missed_calls_alert
    for n in range(1, alert + 1):
        engine.router.set_operator_state("op102", "available")
        if n == 1:
            place_call(engine, "call-m1")  # payments: op102 is reserved for it
        assert engine.router.status("call-m1").state == "reserved"
        engine.call_life.apply(OperatorMissed("call-m1", "op102", "no-answer"))
        row = next(o for o in sveta.get("/supervisor/api/dashboard").json["operators"] if o["id"] == "op102")
        assert (row["state"], row["why"], row["missed"]) == ("offline", "missed", n)
        assert row["attention"] is (n >= alert)
    engine.router.set_operator_state("op102", "available")
    engine.call_life.apply(OperatorAnswered("call-m1"))
    row = next(o for o in sveta.get("/supervisor/api/dashboard").json["operators"] if o["id"] == "op102")
    assert (row["state"], row["missed"], row["attention"]) == ("on_call", 0, False)


def test_the_hour_chart_counts_answered_calls_as_the_days_totals_do(app: Flask, engine: Engine) -> None:
    """Seen: "3 answered today" above a chart that added up to 4: an answered callback was one
    of the chart's answered calls and not of the totals'.  It is a callback answered in both."""
    router = engine.router
    place_call(engine, "call-h1")  # payments, nobody ready: it waits, then asks for a callback
    router.request_callback("call-h1", "+79990000001")
    router.set_operator_state("op102", "available")
    [due] = router.due_callbacks()
    router.callback_result(due.callback_id or "", answered=True)
    router.ended("call-h1")
    router.set_operator_state("op102", "available")
    place_call(engine, "call-h2")  # and a call she answers
    assignment = router.operator_status("op102").assignment
    assert assignment is not None and assignment.call_id == "call-h2"
    router.connected("call-h2")
    dashboard = Dashboard(router=engine.router, clock=engine.clock)
    minutes = dashboard.last_hour()["minutes"]
    assert sum(m["answered"] for m in minutes) == dashboard.snapshot()["totals"]["answered"] == 1
    assert sum(m["callback_answered"] for m in minutes) == 1
