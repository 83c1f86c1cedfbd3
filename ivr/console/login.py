"""Log-in and log-out pages.

    GET  /            the signed-in user's home (or the log-in page)
    GET  /login       the form (it sets the CSRF token the POST must carry)
    POST /login       name, password -> home; 401 wrong; 429 throttled (ivr.console.throttle)
    POST /logout      ends the session everywhere at once
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlparse

from flask import Blueprint, redirect, render_template, request, session, url_for

from ivr.console.auth import (
    LoginRefused,
    auth_service,
    client_ip,
    csrf_token,
    current,
    home_url,
    public,
)
from ivr.console.i18n import page_language, text

bp = Blueprint("auth", __name__)
PREFIXES = {"operator": ("/operator",), "supervisor": ("/supervisor",), "auditor": ("/auditor",)}


def _safe_next(target: str, role: str) -> str | None:
    """Only a local path of the user's own pages (no open redirect, no other role's page)."""
    if not target.isprintable() or any(c in target for c in " \\") or "/.." in target or len(target) > 512:
        return None  # a header could not carry it (500), or a browser reads it otherwise
    parsed = urlparse(target)
    if parsed.scheme or parsed.netloc or not target.startswith("/") or target.startswith("//"):
        return None
    return target if parsed.path.startswith(PREFIXES[role]) else None


@bp.get("/")
@public
def home() -> Any:
    who = current()
    return redirect(home_url(who.role) if who else url_for("auth.login_page"))


@bp.get("/login")
@public
def login_page() -> Any:
    who = current()
    if who is not None:
        return redirect(home_url(who.role))
    csrf_token()
    return render_template("login.html", next=request.args.get("next", ""), error=None)


@bp.post("/login")
@public
def login() -> Any:
    name = request.form.get("username", "").strip()[:64]
    password = request.form.get("password", "")[:1024]
    target = request.form.get("next", "")
    try:
        who = auth_service().login(name, password, ip=client_ip())
    except LoginRefused as exc:
        language = page_language()
        if exc.reason == "blocked":
            return render_template("login.html", next=target, error=text("login.blocked", language)), 403
        if exc.reason != "bad_credentials":  # throttled
            wait = (text("login.wait_seconds", language, n=exc.retry_after) if exc.retry_after < 60
                    else text("login.wait_minutes", language, n=max(1, (exc.retry_after + 59) // 60)))
            message = text("login.throttled", language, wait=wait)
            return render_template("login.html", next=target, error=message), 429, {
                "Retry-After": str(exc.retry_after)}
        return render_template("login.html", next=target, error=text("login.bad_credentials", language)), 401
    session.clear()
    session.permanent = True
    session["sid"] = who.sid
    csrf_token()  # a fresh token for the new session
    return redirect(_safe_next(target, who.role) or home_url(who.role))


@bp.post("/logout")
@public
def logout() -> Any:
    sid = session.get("sid")
    if sid:
        auth_service().logout(sid)
    session.clear()
    return redirect(url_for("auth.login_page"))
