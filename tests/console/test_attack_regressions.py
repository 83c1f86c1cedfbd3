"""Defects a loopback attack found in the console (issue 20), each fixed and kept fixed."""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask

from ivr.console.users import UserStore
from ivr.engine import Engine
from tests.console.conftest import login, security_kinds


@pytest.mark.parametrize("query", ["days=²", "days=٣", "days=①", "days=-1", "days=1e3", "days=" + "9" * 12])
def test_the_auditors_days_takes_ascii_digits_only(as_role: Any, query: str) -> None:
    auditor = as_role("auditor")
    response = auditor.get(f"/auditor/api/recordings?{query}")
    assert response.status_code == 400, response.get_data(as_text=True)[:300]
    assert response.json["error"] == "bad_parameter" and response.json["parameter"] == "days"
    assert response.json["message"].startswith("days: ")
    assert auditor.get("/auditor/api/recordings?days=7").status_code == 200
    assert auditor.get("/auditor/api/recordings").status_code == 200


@pytest.mark.parametrize("name", ["version", "days"])
def test_the_funnels_numbers_take_ascii_digits_only(as_role: Any, name: str) -> None:
    supervisor = as_role("supervisor")
    for bad in ("²", "³", "٣", "１"):
        response = supervisor.get(f"/supervisor/api/funnel?menu=hotline&{name}={bad}")
        assert response.status_code == 400, (bad, response.get_data(as_text=True)[:300])
        assert response.json["parameter"] == name and name in response.json["message"]
    assert supervisor.get(f"/supervisor/api/funnel?menu=hotline&{name}=2").status_code == 200


def users_of(engine: Engine) -> UserStore:
    cfg = engine.config
    return UserStore(redis=engine.redis, prefix=cfg.redis.prefix, configured=cfg.users, operators=cfg.operators)


@pytest.mark.parametrize("change", [
    {"role": "supervisor", "password": "a brand new secret"},   # a password reset
    {"role": "supervisor", "password": "a long enough secret"},  # the same password set again
    {"role": "auditor", "password": "a long enough secret"},     # another role
])
def test_a_reset_ends_every_session_of_the_user(engine: Engine, app: Flask, change: dict[str, str]) -> None:
    users = users_of(engine)
    users.add("petr", role="supervisor", password="a long enough secret")
    users.add("vera", role="supervisor", password="a long enough secret")
    first, second, bystander = app.test_client(), app.test_client(), app.test_client()
    assert login(first, "petr", "a long enough secret").status_code == 302
    assert login(second, "petr", "a long enough secret", REMOTE_ADDR="10.0.0.9").status_code == 302
    assert login(bystander, "vera", "a long enough secret").status_code == 302
    assert first.get("/supervisor/api/dashboard").status_code == 200
    users.add("petr", replace=True, **change)
    for ended in (first, second):
        assert ended.get("/supervisor/api/dashboard").status_code == 401
        assert ended.get("/supervisor").headers["Location"].startswith("/login")
    assert "stale_session" in security_kinds(engine)
    assert bystander.get("/supervisor/api/dashboard").status_code == 200  # another user keeps theirs
    fresh = app.test_client()
    assert login(fresh, "petr", change["password"]).status_code == 302  # the new credentials work
