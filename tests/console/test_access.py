"""Every console page and API, tried by every role and anonymously.

The routes are read from the app itself, so a new route cannot escape the matrix: each
console view must say which roles may use it (``@requires``) or that it is public.
"""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask

from ivr.engine import Engine
from tests.console.conftest import Console, csrf_of, security_kinds

CONSOLE = ("auth", "operator", "supervisor", "auditor")
ARGS = {"call_id": "c-none", "name": "hotline", "version": 1, "recording_id": "r" + "0" * 31}
ROLES = ("operator", "supervisor", "auditor")


def console_routes(app: Flask) -> list[tuple[str, str, str, tuple[str, ...]]]:
    routes = []
    for rule in app.url_map.iter_rules():
        if rule.endpoint.split(".")[0] not in CONSOLE:
            continue
        view = app.view_functions[rule.endpoint]
        assert hasattr(view, "roles"), f"{rule.endpoint} says nothing about who may use it"
        url = rule.build({k: v for k, v in ARGS.items() if k in rule.arguments})[1]  # type: ignore[index]
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):  # type: ignore[operator]
            routes.append((method, url, rule.endpoint, tuple(view.roles)))
    return routes


def call(client: Any, method: str, url: str, csrf: str) -> Any:
    if method == "GET":
        response = client.get(url)
    else:
        response = client.open(url, method=method, json={}, headers={"X-CSRF-Token": csrf})
    response.close()  # an event stream is not read
    return response


def refusal(response: Any) -> str | None:
    if response.status_code != 403:
        return None
    if response.is_json:
        return str(response.json["error"])
    return "wrong_role" if "не для вашей роли" in response.get_data(as_text=True) else "other"


def test_every_console_route_declares_its_roles_and_there_are_enough_of_them(app: Flask) -> None:
    routes = console_routes(app)
    assert len(routes) >= 30
    assert {r[2].split(".")[0] for r in routes} == set(CONSOLE)


def test_anonymous_gets_the_login_page_or_401_and_nothing_else(app: Flask) -> None:
    client = app.test_client()
    token = csrf_of(client)  # even with a valid CSRF token
    for method, url, endpoint, roles in console_routes(app):
        if endpoint == "auth.logout":
            continue  # it clears the session (and its token); tested in test_auth
        response = call(client, method, url, token)
        if not roles:
            assert response.status_code in (200, 302, 401), (method, url)  # 401: POST /login, no password
        elif "/api/" in url or url.endswith("/events"):
            assert response.status_code == 401, (method, url, response.status_code)
        else:
            assert response.status_code == 302 and "/login" in response.headers["Location"], (method, url)


@pytest.mark.parametrize("role", ROLES)
def test_each_role_reaches_only_its_own_pages(app: Flask, engine: Engine, role: str, as_role: Any) -> None:
    console: Console = as_role(role)
    refused = 0
    for method, url, endpoint, roles in console_routes(app):
        if not roles:
            continue  # public: the log-in pages
        response = call(console.client, method, url, console.csrf)
        if role in roles:  # may still be refused for what it names (another's call), never for the role
            assert response.status_code != 401 and refusal(response) not in ("wrong_role", "csrf"), (
                role, method, url, response.status_code)
        else:
            refused += 1
            assert response.status_code == 403 and refusal(response) == "wrong_role", (role, method, url)
    assert refused >= 10
    assert security_kinds(engine).count("wrong_role") == refused  # every refusal logged


def test_pages_carry_security_headers_and_no_external_assets(app: Flask, as_role: Any) -> None:
    for role, page in (("operator", "/operator"), ("supervisor", "/supervisor"),
                       ("supervisor", "/supervisor/menus/hotline"), ("supervisor", "/supervisor/funnel"),
                       ("auditor", "/auditor/recordings")):
        response = as_role(role).get(page)
        assert response.status_code == 200, page
        csp = response.headers["Content-Security-Policy"]
        assert "default-src 'self'" in csp and "frame-ancestors 'none'" in csp
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        assert response.headers["Cache-Control"] == "no-store"
        html = response.get_data(as_text=True)
        assert "http://" not in html and "https://" not in html, page  # no CDN, no external network
    for asset in ("common.js", "operator.js", "supervisor.js", "menu_edit.js", "funnel.js", "auditor.js", "console.css"):
        body = app.test_client().get(f"/console/static/{asset}").get_data(as_text=True)
        body = body.replace("http://www.w3.org/2000/svg", "")  # the SVG namespace name, not a fetch
        assert body and "http://" not in body and "https://" not in body, asset
