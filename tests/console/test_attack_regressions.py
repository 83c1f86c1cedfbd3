"""Defects a loopback attack found in the console (issue 20), each fixed and kept fixed."""

from __future__ import annotations

import dataclasses
from ipaddress import ip_network
from pathlib import Path
from typing import Any

import pytest
from flask import Flask

from ivr.config import Config, ConfigError, Secrets, load_config
from ivr.console.audit import ConsoleAudit
from ivr.console.users import UserStore
from ivr.engine import Engine, build_engine
from ivr.web.app import create_app
from routing.redis_conn import connect
from tests.conftest import ROOT
from tests.console.conftest import console_config, login, security_kinds
from tests.redis_servers import RedisServer


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


# -- log-in throttling (point 2) -------------------------------------------------------------

def console_app(config: Config, tmp_path: Path, redis_server: RedisServer, users: Any, **console: Any) -> Flask:
    cfg = console_config(config, tmp_path, users)
    cfg = dataclasses.replace(cfg, console=dataclasses.replace(cfg.console, **console))
    engine = build_engine(cfg, Secrets(secret_key="k"), redis=connect(redis_server.url, embedded_dir=str(tmp_path)))
    app = create_app(engine)
    app.testing = True
    return app


def test_password_spraying_from_one_address_is_stopped(app: Flask, engine: Engine) -> None:
    client = app.test_client()
    statuses = [login(client, f"user{n:03d}", "Winter2026!").status_code for n in range(150)]
    budget = engine.config.console.address_attempts
    assert statuses[:budget - 1] == [401] * (budget - 1)
    assert set(statuses[budget - 1:]) == {429}
    refused = login(client, "olga")  # from that address even a right password waits
    assert refused.status_code == 429 and 0 < int(refused.headers["Retry-After"]) <= 15 * 60
    assert "Слишком много" in refused.get_data(as_text=True)
    kinds = security_kinds(engine)
    assert kinds.count("login_failed") == budget  # refused attempts checked no password
    assert kinds.count("login_throttled") == 150 - budget + 1
    assert login(app.test_client(), "olga", REMOTE_ADDR="10.0.0.8").status_code == 302  # others log in


def test_failures_on_a_name_never_lock_its_user_out_of_a_clean_address(app: Flask, engine: Engine) -> None:
    first, *others = [f"203.0.113.{n}" for n in range(1, 9)]
    statuses = [login(app.test_client(), "olga", f"guess {n}", REMOTE_ADDR=first).status_code for n in range(5)]
    assert statuses == [401, 401, 401, 401, 429]  # that pair is locked ...
    locked = login(app.test_client(), "olga", REMOTE_ADDR=first)
    assert locked.status_code == 429 and int(locked.headers["Retry-After"]) > 800  # ... even for the password
    for ip in others:  # a distributed guess: each new address is checked once
        assert login(app.test_client(), "olga", "guess " + ip, REMOTE_ADDR=ip).status_code == 401, ip
    slowed = login(app.test_client(), "olga", "again", REMOTE_ADDR=others[0])  # failed on olga: waits
    assert slowed.status_code == 429 and 1 <= int(slowed.headers["Retry-After"]) <= 60
    assert security_kinds(engine)[-1] == "login_slowed"
    real = app.test_client()  # olga herself, from her own address, at once
    assert login(real, "olga", REMOTE_ADDR="198.51.100.20").headers["Location"] == "/operator"
    assert real.get("/operator").status_code == 200


def test_x_forwarded_for_is_believed_only_from_trusted_proxies(config: Config, tmp_path: Path,
                                                              redis_server: RedisServer, user_hashes: Any) -> None:
    def spray(app: Flask, **environ: Any) -> list[int]:
        return [login(app.test_client(), f"name{n}", "x" * 12, REMOTE_ADDR="127.0.0.1",
                      HTTP_X_FORWARDED_FOR=f"198.51.100.{n}", **environ).status_code for n in range(25)]

    direct = console_app(config, tmp_path / "a", redis_server, user_hashes)  # no proxies: the header is a lie
    assert spray(direct).count(429) == 25 - 20 + 1
    behind = console_app(config, tmp_path / "b", redis_server, user_hashes,
                         trusted_proxies=(ip_network("127.0.0.1/32"), ip_network("10.1.0.0/16")))
    assert spray(behind) == [401] * 25  # 25 clients behind the proxy, one try each
    attacker = "203.0.113.66"
    for n in range(25):  # one client behind two proxies; a made-up hop on the left changes nothing
        last = login(behind.test_client(), f"who{n}", "x" * 12, REMOTE_ADDR="127.0.0.1",
                     HTTP_X_FORWARDED_FOR=f"198.51.100.{n}, {attacker}, 10.1.2.3")
    assert last.status_code == 429
    assert login(behind.test_client(), "olga", REMOTE_ADDR="127.0.0.1",
                 HTTP_X_FORWARDED_FOR="198.51.100.99, 10.1.2.3").status_code == 302


def test_trusted_proxies_are_checked_with_file_and_line(config: Config, tmp_path: Path) -> None:
    text = (ROOT / "config.yaml").read_text(encoding="utf-8")
    assert "  trusted_proxies: []" in text
    bad = tmp_path / "config.yaml"
    bad.write_text(text.replace("  trusted_proxies: []", "  trusted_proxies: [10.0.0.0/8, proxy.local]"),
                   encoding="utf-8")
    line = next(n for n, row in enumerate(bad.read_text(encoding="utf-8").splitlines(), 1) if "proxy.local" in row)
    with pytest.raises(ConfigError) as caught:
        load_config(bad)
    assert f"config.yaml:{line}: 'console.trusted_proxies': 'proxy.local' is not an IP address" in str(caught.value)


# -- blocking after refused attempts (issue 20, "Blocking") --------------------------------------

def console_audit(engine: Engine) -> list[dict[str, Any]]:
    return list(ConsoleAudit(engine.config.path(engine.config.console.audit_log), clock=engine.clock).entries())


def test_refused_attempts_block_the_account_and_only_a_supervisor_unblocks_it(
        app: Flask, engine: Engine, as_role: Any) -> None:
    olga = as_role("operator")
    limit = engine.config.console.block_after
    for n in range(5):  # another role's pages and another site's links do not count
        assert olga.get("/supervisor/api/dashboard").status_code == 403
        assert olga.get(f"/operator/api/calls/c-{n}", headers={"Sec-Fetch-Site": "cross-site"}).status_code == 403
    for n in range(limit):  # other operators' calls do
        assert olga.get(f"/operator/api/calls/c-{n}", headers={"Sec-Fetch-Site": "same-origin"}).status_code == 403
    assert olga.get("/operator/api/calls/c-0").status_code == 401  # her session ended at once
    blocked = login(app.test_client(), "olga")
    assert blocked.status_code == 403 and "заблокирована" in blocked.get_data(as_text=True)
    assert {"account_blocked", "login_blocked"} <= set(security_kinds(engine))
    english = app.test_client()
    english.set_cookie("ivr_lang", "en")
    assert "This account is blocked" in login(english, "olga").get_data(as_text=True)

    officer = as_role("auditor").get("/auditor/accounts").get_data(as_text=True)
    assert 'data-user="olga"' in officer and "чужой вызов" in officer and "Разблокировать" not in officer
    auditor = as_role("auditor")  # the officer sees it, but may not unblock it
    assert auditor.post("/supervisor/accounts/olga/unblock").status_code == 403
    assert login(app.test_client(), "olga").status_code == 403

    sveta = as_role("supervisor")
    assert 'id="unblock-olga"' in sveta.get("/supervisor/accounts").get_data(as_text=True)
    assert sveta.post("/supervisor/accounts/olga/unblock").headers["Location"] == "/supervisor/accounts"
    assert "no-blocked-accounts" in sveta.get("/supervisor/accounts").get_data(as_text=True)
    assert login(app.test_client(), "olga").status_code == 302
    actions = [(e["actor"], e["action"], e.get("detail", "")) for e in console_audit(engine)]
    assert ("olga", "account_blocked", f"{limit} refused attempts; the last: not_your_call") in actions
    assert ("sveta", "account_unblocked", "user olga") in actions


@pytest.mark.parametrize(("role", "url"), [
    ("operator", "/operator/api/state"),
    ("operator", "/operator/api/calls/c1/wrap-up"),
    ("auditor", "/auditor/api/citizen-copy"),
    ("supervisor", "/supervisor/api/menus/hotline/validate"),
])
def test_json_nested_past_the_recursion_limit_is_bad_input_not_500(as_role: Any, role: str, url: str) -> None:
    """The attack of issue 20: 100,000 ``[`` from a logged-in user raised RecursionError (500)."""
    who = as_role(role)
    body = "[" * 100_000 + "]" * 100_000
    response = who.client.post(url, data=body, content_type="application/json",
                               headers={"X-CSRF-Token": who.csrf})
    assert 400 <= response.status_code < 500, (response.status_code, response.get_data(as_text=True)[:300])


BILLION_LAUGHS = 'a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]\n' + "".join(
    f"{c}: &{c} [{', '.join(['*' + p] * 9)}]\n" for p, c in zip("abcdefgh", "bcdefghi", strict=True))


@pytest.mark.parametrize("text", [BILLION_LAUGHS, "[" * 50_000 + "]" * 50_000], ids=["aliases", "nesting"])
@pytest.mark.parametrize("action", ["validate", "diff", "scenarios", "publish"])
def test_a_menu_edit_that_explodes_is_refused_promptly(as_role: Any, engine: Engine, text: str,
                                                       action: str) -> None:
    """Issue 20's attack: nine anchors of nine aliases each sent to /validate grew the engine by
    60 MB a second until it was killed (every call with it); 50,000 brackets answered 500."""
    import time

    supervisor = as_role("supervisor")
    started = time.monotonic()
    response = supervisor.post(f"/supervisor/api/menus/hotline/{action}", {"text": text, "base": None})
    assert time.monotonic() - started < 20
    assert response.status_code in (200, 400, 409, 422), (response.status_code, response.get_data(as_text=True)[:300])
    said = response.get_data(as_text=True)
    if action == "validate":
        assert response.json["ok"] is False
        assert "too large" in said or "nested too deeply" in said, said[:300]
    assert engine.menus.get("hotline").name == "hotline"  # still serving the menu it had


@pytest.mark.parametrize("version", ["Infinity", "-Infinity", "1e400", "NaN", '"٣"', '"²"', "true", "-1", "[1]"])
def test_a_rollback_version_is_a_whole_number(as_role: Any, version: str) -> None:
    """``{"version": Infinity}`` or ``1e400`` (floats Python's JSON reads) answered 500;
    ``"٣"`` rolled back to version 3, which nobody typed."""
    supervisor = as_role("supervisor")
    response = supervisor.client.post("/supervisor/api/menus/hotline/rollback", data=f'{{"version": {version}}}',
                                      content_type="application/json", headers={"X-CSRF-Token": supervisor.csrf})
    assert response.status_code == 400 and response.json["error"] == "bad_base", response.get_data(as_text=True)[:300]


def test_what_is_typed_as_a_log_in_name_is_kept_only_for_real_users(app: Flask, engine: Engine,
                                                                      caplog: pytest.LogCaptureFixture) -> None:
    """Issue 20's attack: a failed log-in logged whatever was typed as the name in clear (a
    person's name; often a password typed in the wrong box).  A real user's name stays, for
    the officer; anything else is a hash and a length, the same for the same text."""
    import json
    import logging

    typed = ["Синтетиков Тестослав Проверович", "correct horse battery staple"]
    with caplog.at_level(logging.INFO, logger="ivr.console.security"):
        for name in [*typed, typed[0], "olga"]:
            assert login(app.test_client(), name, "wrong password", REMOTE_ADDR="10.0.0.9").status_code == 401
    key = "{" + engine.config.redis.prefix + "}:console:security"
    users = [json.loads(f[b"e"])["user"] for _, f in engine.redis.xrange(key)
             if json.loads(f[b"e"])["kind"] == "login_failed"]
    for secret in typed:
        assert secret not in caplog.text and all(secret not in str(u) for u in users)
    assert users[0] == users[2] != users[1] and users[0].startswith("?") and "no such user" in users[0]
    assert users[3] == "olga"
