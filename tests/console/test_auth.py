"""Log-in, sessions and CSRF: wrong passwords rate-limited, forged sessions and missing
tokens refused and logged, nothing changed by a refused request."""

from __future__ import annotations

import argparse
import io
from typing import Any

from flask import Flask
from itsdangerous import URLSafeTimedSerializer

from ivr.config import Config, Secrets
from ivr.console.cli import users_command
from ivr.console.users import UserStore
from ivr.engine import Engine, build_engine
from ivr.web.app import create_app
from routing.redis_conn import connect
from tests.console.conftest import PASSWORD, Console, console_config, csrf_of, login, security_kinds


def op_state(engine: Engine, operator: str = "op102") -> str:
    return engine.router.operator_status(operator).state


def test_log_in_lands_on_the_role_home_and_sets_a_safe_cookie(app: Flask) -> None:
    client = app.test_client()
    response = login(client, "olga")
    assert response.status_code == 302 and response.headers["Location"] == "/operator"
    cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Secure" not in cookie
    assert client.get("/operator").status_code == 200
    assert client.get("/").headers["Location"] == "/operator"
    assert login(app.test_client(), "sveta").headers["Location"] == "/supervisor"
    assert login(app.test_client(), "anton").headers["Location"] == "/auditor/recordings"


def test_the_cookie_is_secure_behind_https(config: Config, tmp_path: Any, redis_server: Any, user_hashes: Any) -> None:
    cfg = console_config(config, tmp_path, user_hashes, public_url="https://ivr.example.ru")
    engine = build_engine(cfg, Secrets(secret_key="k"), redis=connect(redis_server.url, embedded_dir=str(tmp_path)))
    response = login(create_app(engine).test_client(), "olga")
    assert "Secure" in response.headers["Set-Cookie"]


def test_next_goes_only_to_the_users_own_pages(app: Flask) -> None:
    for target, landed in (("/operator?x=1", "/operator?x=1"), ("https://evil.example/", "/operator"),
                           ("//evil.example/", "/operator"), ("/supervisor/menus", "/operator"),
                           # the attack of issue 20: a CR LF after log-in answered 500 (no cookie set)
                           ("/operator\r\nX-Injected: 1", "/operator"), ("/operator/\\evil", "/operator"),
                           ("/operator/../supervisor/menus", "/operator")):
        client = app.test_client()
        token = csrf_of(client)
        response = client.post("/login", data={"username": "olga", "password": PASSWORD, "csrf_token": token,
                                                "next": target})
        assert response.headers["Location"] == landed, target


def test_wrong_passwords_are_rate_limited_per_user_and_address(app: Flask, engine: Engine) -> None:
    client = app.test_client()
    statuses = [login(client, "olga", "wrong password").status_code for _ in range(5)]
    assert statuses == [401, 401, 401, 401, 429]
    locked = login(client, "olga")  # even the right password, while locked
    assert locked.status_code == 429 and int(locked.headers["Retry-After"]) > 800
    assert "Слишком много" in locked.get_data(as_text=True)
    other = app.test_client()
    assert login(other, "olga", REMOTE_ADDR="10.0.0.7").status_code == 302  # another address
    assert login(app.test_client(), "oleg").status_code == 302  # another user
    kinds = security_kinds(engine)
    assert kinds.count("login_failed") == 5 and kinds.count("login_locked") == 1


def test_an_unknown_user_and_a_bad_password_look_the_same(app: Flask) -> None:
    a = login(app.test_client(), "nobody", "whatever").get_data(as_text=True)
    b = login(app.test_client(), "olga", "whatever").get_data(as_text=True)
    assert "Неверное имя или пароль" in a and "Неверное имя или пароль" in b


def test_a_forged_session_is_refused_and_logged(app: Flask, engine: Engine) -> None:
    console = Console(app, "olga")
    cookie = console.client.get_cookie("ivr_console")
    assert cookie is not None
    forged = app.test_client()
    forged.set_cookie("ivr_console", cookie.value[:-4] + ("AAAA" if not cookie.value.endswith("AAAA") else "BBBB"))
    assert forged.get("/operator").status_code == 302
    assert forged.post("/operator/api/state", json={"state": "ready"}).status_code == 403
    other_key = URLSafeTimedSerializer("not-our-secret", salt="cookie-session", signer_kwargs={
        "key_derivation": "hmac", "digest_method": __import__("hashlib").sha1})
    made_up = other_key.dumps({"sid": "x" * 43, "csrf": "t"})
    impostor = app.test_client()
    impostor.set_cookie("ivr_console", made_up)
    assert impostor.get("/operator/api/calls/c1").status_code == 401
    assert security_kinds(engine).count("forged_session") >= 3
    assert op_state(engine) == "offline"  # nothing changed


def test_a_session_id_that_redis_does_not_know_is_anonymous(app: Flask, engine: Engine) -> None:
    console = Console(app, "olga")
    stolen = console.client.get_cookie("ivr_console").value  # type: ignore[union-attr]
    assert console.post("/logout").status_code == 302
    replay = app.test_client()
    replay.set_cookie("ivr_console", stolen)
    assert replay.get("/operator").status_code == 302  # logged out everywhere
    assert "stale_session" in security_kinds(engine)


def test_state_changes_need_the_csrf_token(app: Flask, engine: Engine) -> None:
    console = Console(app, "olga")
    client = console.client
    assert client.post("/operator/api/state", json={"state": "ready"}).status_code == 403
    assert client.post("/operator/api/state", json={"state": "ready"},
                       headers={"X-CSRF-Token": "guess"}).status_code == 403
    assert client.post("/operator/api/state", data={"state": "ready"}).status_code == 403
    assert op_state(engine) == "offline"
    assert security_kinds(engine).count("csrf") == 3
    assert client.post("/operator/api/state", data={"state": "ready", "csrf_token": console.csrf}).status_code == 200
    assert op_state(engine) == "available"
    assert client.post("/logout").status_code == 403  # log-out is a form with the token too
    evil = client.post("/operator/api/state", json={"state": "break"},
                       headers={"X-CSRF-Token": console.csrf, "Origin": "https://evil.example"})
    assert evil.status_code == 403 and op_state(engine) == "available"
    assert "cross_origin" in security_kinds(engine)


def test_login_itself_needs_the_token(app: Flask) -> None:
    client = app.test_client()
    response = client.post("/login", data={"username": "olga", "password": PASSWORD})
    assert response.status_code == 403


def test_ivr_users_add_hashes_the_password_and_the_user_can_log_in(config: Config, engine: Engine, app: Flask) -> None:
    cfg = engine.config
    args = argparse.Namespace(users_command="add", name="petr", role="operator", operator="op103", replace=False)
    out = io.StringIO()
    assert users_command(cfg, args, stdin=io.StringIO("a long enough secret\n"), out=out, redis=engine.redis) == 0
    assert "saved" in out.getvalue()
    store = UserStore(redis=engine.redis, prefix=cfg.redis.prefix, configured=cfg.users, operators=cfg.operators)
    user = store.get("petr")
    assert user is not None and user.password_hash.startswith("scrypt:") and "secret" not in user.password_hash
    assert login(app.test_client(), "petr", "a long enough secret").headers["Location"] == "/operator"
    again = users_command(cfg, args, stdin=io.StringIO("a long enough secret\n"), out=out, redis=engine.redis)
    assert again == 1  # exists
    bad = argparse.Namespace(users_command="add", name="vera", role="operator", operator=None, replace=False)
    assert users_command(cfg, bad, stdin=io.StringIO("a long enough secret\n"), out=out, redis=engine.redis) == 1
    short = argparse.Namespace(users_command="add", name="vera", role="auditor", operator=None, replace=False)
    assert users_command(cfg, short, stdin=io.StringIO("short\n"), out=out, redis=engine.redis) == 1
    shadow = argparse.Namespace(users_command="add", name="olga", role="auditor", operator=None, replace=True)
    assert users_command(cfg, shadow, stdin=io.StringIO("a long enough secret\n"), out=out, redis=engine.redis) == 1


def test_removing_a_user_ends_their_session(engine: Engine, app: Flask) -> None:
    cfg = engine.config
    store = UserStore(redis=engine.redis, prefix=cfg.redis.prefix, configured=cfg.users, operators=cfg.operators)
    store.add("petr", role="supervisor", password="a long enough secret")
    client = app.test_client()
    assert login(client, "petr", "a long enough secret").status_code == 302
    assert client.get("/supervisor").status_code == 200
    store.remove("petr")
    assert client.get("/supervisor").status_code == 302


def test_without_a_secret_key_the_engine_makes_one_and_says_so(config: Config, tmp_path: Any, redis_server: Any,
                                                                user_hashes: Any, caplog: Any) -> None:
    cfg = console_config(config, tmp_path, user_hashes)
    engine = build_engine(cfg, Secrets(), redis=connect(redis_server.url, embedded_dir=str(tmp_path)))
    app = create_app(engine)
    assert "IVR_SECRET_KEY is not set" in caplog.text
    assert isinstance(app.secret_key, bytes) and len(app.secret_key) == 32
    assert login(app.test_client(), "olga").status_code == 302
