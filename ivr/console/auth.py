"""Log-in, sessions, roles and CSRF for the console.

* **Passwords**: werkzeug hashes (:mod:`ivr.console.users`).
* **Log-in throttling** (:mod:`ivr.console.throttle`): per address (spraying), per
  (name, address) and per name (a doubling delay for addresses that failed on it), never
  a lock-out of the real user from a clean address; refused with 429 and ``Retry-After``.
  The client's address is the peer's, or what a ``console.trusted_proxies`` proxy says
  in ``X-Forwarded-For`` (:func:`client_ip`).
* **Sessions**: the cookie (signed with ``IVR_SECRET_KEY``; without it a random key per
  start, and a warning) carries only a session id and the CSRF token.  The session
  itself lives in Redis (``{ivr}:console:session:<id>``, sliding expiry), so log-out and
  removing a user end it at once, and every engine process behind one address shares it.
  A session keeps the user's stamp (:attr:`User.stamp`): a new password (``ivr users add
  --replace``), role or operator id ends every session of that user at their next request.
  Cookie: ``HttpOnly``, ``SameSite=Lax``, ``Secure`` when ``engine.public_url`` is https.
* **CSRF**: every POST/PUT/PATCH/DELETE to the console carries the session's token, as
  the form field ``csrf_token`` or the header ``X-CSRF-Token`` (fetch); a request whose
  ``Origin`` is another site is refused as well.
* **Roles**: :func:`requires` marks a view with the roles that may use it; anyone else
  gets a redirect to ``/login`` (pages) or 401 (API, events), a wrong role 403.  Every
  refusal goes to the security log (``ivr.console.security`` and a Redis stream).
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import json
import logging
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar
from urllib.parse import urlparse

from flask import Flask, Request, g, jsonify, redirect, request, session, url_for
from flask.sessions import SecureCookieSessionInterface
from itsdangerous import BadSignature

from ivr.config.schema import ConsoleSettings
from ivr.console.audit import ConsoleAudit
from ivr.console.blocking import CROSS_SITE, AccountBlocks
from ivr.console.throttle import LoginThrottle, client_address
from ivr.console.users import Role, User, UserStore

log = logging.getLogger("ivr.console.security")
F = TypeVar("F", bound=Callable[..., Any])
UNSAFE = frozenset({"POST", "PUT", "PATCH", "DELETE"})
HOME: dict[str, str] = {"operator": "operator.page", "supervisor": "supervisor.dashboard_page",
                        "auditor": "auditor.page"}
SECURITY_KEPT = 10_000
THROTTLED = {"locked": "login_locked", "address": "login_throttled", "name": "login_slowed"}


@dataclass(frozen=True)
class Principal:
    """Who is making this request."""

    sid: str
    user: str
    role: Role
    operator: str | None


class LoginRefused(Exception):
    def __init__(self, reason: str, *, retry_after: int = 0) -> None:
        super().__init__(reason)
        self.reason = reason  # "bad_credentials", or throttled: "locked", "address", "name"
        self.retry_after = retry_after


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


class SecurityLog:
    """Refusals and log-ins: the log, and a bounded Redis stream a test or an officer can read."""

    def __init__(self, *, redis: Any, prefix: str, clock: Callable[[], float]) -> None:
        self.redis = redis
        self.key = "{" + prefix + "}:console:security"
        self.clock = clock

    def record(self, kind: str, **fields: Any) -> None:
        entry = {"kind": kind, "at": self.clock(), **{k: v for k, v in fields.items() if v is not None}}
        # The record's own time stamps the line (epoch seconds would read as a masked ИНН there).
        log.warning("console %s: %s", kind, " ".join(f"{k}={v}" for k, v in entry.items() if k not in ("kind", "at")))
        try:
            self.redis.xadd(self.key, {"e": json.dumps(entry, ensure_ascii=False)},
                            maxlen=SECURITY_KEPT, approximate=True)
        except Exception:  # the log line above is the record of last resort
            log.exception("could not write the security stream")

    def recent(self, count: int = 100) -> list[dict[str, Any]]:
        return [json.loads(_text(f.get(b"e") or f.get("e")))
                for _, f in self.redis.xrevrange(self.key, count=count)]


class Auth:
    def __init__(self, *, users: UserStore, redis: Any, prefix: str, settings: ConsoleSettings,
                 security: SecurityLog, audit: ConsoleAudit, clock: Callable[[], float] = time.time) -> None:
        self.users = users
        self.redis = redis
        self.tag = "{" + prefix + "}"
        self.settings = settings
        self.security = security
        self.clock = clock
        self.throttle = LoginThrottle(redis=redis, prefix=prefix, settings=settings)
        self.blocks = AccountBlocks(redis=redis, prefix=prefix, settings=settings, clock=clock)
        self.audit = audit

    # -- keys ---------------------------------------------------------------------------
    def key_session(self, sid: str) -> str:
        return f"{self.tag}:console:session:{sid}"

    @property
    def session_seconds(self) -> int:
        return max(60, int(self.settings.session_hours * 3600))

    # -- log-in ---------------------------------------------------------------------------
    def logged_name(self, name: str) -> str:
        """A log-in name as the security log keeps it: a user's name as it is; anything else
        typed there (a password in the wrong box, a person's name or number) only as a hash
        and a length, the same for the same text, so a spray is still seen."""
        if self.users.get(name) is not None:
            return name
        return f"?{hashlib.sha256(name.encode()).hexdigest()[:12]} ({len(name)} characters, no such user)"

    def login(self, name: str, password: str, *, ip: str) -> Principal:
        throttled = self.throttle.check(name, ip)
        if throttled is not None:
            self.security.record(THROTTLED[throttled.why], user=self.logged_name(name), ip=ip,
                                 retry_after=throttled.retry_after)
            raise LoginRefused(throttled.why, retry_after=throttled.retry_after)
        user = self.users.verify(name, password)
        if user is None:
            count, throttled = self.throttle.failed(name, ip)
            self.security.record("login_failed", user=self.logged_name(name), ip=ip, failures=count)
            if throttled is not None:
                raise LoginRefused(throttled.why, retry_after=throttled.retry_after)
            raise LoginRefused("bad_credentials")
        self.throttle.succeeded(name, ip)
        if self.blocks.is_blocked(user.name):
            self.security.record("login_blocked", user=user.name, ip=ip)
            raise LoginRefused("blocked")
        sid = secrets.token_urlsafe(32)
        self.redis.hset(self.key_session(sid), mapping={
            "user": user.name, "role": user.role, "operator": user.operator or "", "stamp": user.stamp,
            "created": repr(self.clock()), "ip": ip})
        self.redis.expire(self.key_session(sid), self.session_seconds)
        log.info("console log-in: %s (%s) from %s", user.name, user.role, ip)
        return Principal(sid, user.name, user.role, user.operator)

    def principal(self, sid: str) -> Principal | None:
        raw = self.redis.hgetall(self.key_session(sid))
        if not raw:
            return None
        d = {_text(k): _text(v) for k, v in raw.items()}
        user: User | None = self.users.get(d["user"])
        if user is None or user.stamp != d.get("stamp") or self.blocks.is_blocked(user.name):
            # removed, new password or role, blocked: the session ends
            self.redis.delete(self.key_session(sid))
            return None
        self.redis.expire(self.key_session(sid), self.session_seconds)
        return Principal(sid, user.name, user.role, user.operator)

    def logout(self, sid: str) -> None:
        self.redis.delete(self.key_session(sid))

    # -- blocking ---------------------------------------------------------------------------
    def attempt_refused(self, who: Principal, kind: str, *, ip: str) -> None:
        """``who`` was refused something they may not reach: it counts towards a block."""
        count = self.blocks.refused(who.user, kind)
        if count is None:
            return
        self.security.record("account_blocked", user=who.user, role=who.role, ip=ip, refusals=count, last=kind)
        self._audit(actor=who.user, role=who.role, action="account_blocked", outcome="blocked", ip=ip,
                    detail=f"{count} refused attempts; the last: {kind}")

    def unblock(self, name: str, *, by: Principal, ip: str) -> bool:
        done = self.blocks.unblock(name)
        if done:
            self.security.record("account_unblocked", user=name, by=by.user, ip=ip)
            self._audit(actor=by.user, role=by.role, action="account_unblocked", outcome="allowed", ip=ip,
                        detail=f"user {name}")
        return done

    def audit_refusal(self, **fields: Any) -> None:
        """A refusal into the console's hash-chained audit (a log line if it cannot be written)."""
        self._audit(**fields)

    def _audit(self, **fields: Any) -> None:
        try:
            self.audit.record(call="", **fields)
        except OSError:
            log.exception("console audit could not be written")


# -- Flask integration ---------------------------------------------------------------------

class LoggingSessionInterface(SecureCookieSessionInterface):
    """Flask's signed cookie session; a cookie with a bad signature is logged, then ignored."""

    def open_session(self, app: Flask, request: Request) -> Any:
        serializer = self.get_signing_serializer(app)
        if serializer is None:
            return None
        value = request.cookies.get(self.get_cookie_name(app))
        if not value:
            return self.session_class()
        max_age = int(app.permanent_session_lifetime.total_seconds())
        try:
            return self.session_class(serializer.loads(value, max_age=max_age))
        except BadSignature:
            security: SecurityLog = app.extensions["ivr.console.security"]
            security.record("forged_session", ip=client_ip(), path=request.path)
            return self.session_class()


def auth_service() -> Auth:
    from flask import current_app

    auth: Auth = current_app.extensions["ivr.console.auth"]
    return auth


def client_ip() -> str:
    """The client's address: the peer's, or the one a trusted proxy names (``console.trusted_proxies``)."""
    auth = auth_service()
    return client_address(request.remote_addr or "?", request.headers.getlist("X-Forwarded-For"),
                          auth.settings.trusted_proxies)


def attempt_refused(who: Principal, kind: str) -> None:
    """Count a refusal towards blocking ``who`` (not for a request another site started)."""
    if request.headers.get("Sec-Fetch-Site", "") in CROSS_SITE:
        return
    auth_service().attempt_refused(who, kind, ip=client_ip())


def current() -> Principal | None:
    principal: Principal | None = g.get("principal")
    return principal


def csrf_token() -> str:
    token = session.get("csrf")
    if not token:
        token = secrets.token_urlsafe(32)
        session["csrf"] = token
    return str(token)


def _wants_json() -> bool:
    path = request.path
    return "/api/" in path or path.endswith("/events") or request.accept_mimetypes.best == "application/json"


def refuse(status: int, kind: str, message: str, **fields: Any) -> Any:
    """Log the refusal, then answer it (JSON for the API, a short page otherwise)."""
    from flask import current_app

    security: SecurityLog = current_app.extensions["ivr.console.security"]
    who = current()
    security.record(kind, user=who.user if who else None, role=who.role if who else None,
                    ip=client_ip(), path=request.path, method=request.method, **fields)
    if _wants_json():
        return jsonify(error=kind, message=message), status
    return f"{message}\n", status, {"Content-Type": "text/plain; charset=utf-8"}


def requires(*roles: Role, on_refused: Callable[[Principal], None] | None = None) -> Callable[[F], F]:
    """Only these roles may use the view; the access matrix test reads ``view.roles``.

    ``on_refused``: also called for a logged-in user of another role (to audit the attempt
    where the feature keeps its own audit, e.g. recordings).
    """

    def decorate(view: F) -> F:
        @functools.wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            who = current()
            if who is None:
                if _wants_json():
                    return jsonify(error="login_required", message="Войдите в консоль"), 401
                return redirect(url_for("auth.login_page", next=request.full_path.rstrip("?")))
            if who.role not in roles:
                if on_refused is not None:
                    on_refused(who)
                return refuse(403, "wrong_role", "Эта страница не для вашей роли")
            return view(*args, **kwargs)

        wrapper.roles = roles  # type: ignore[attr-defined]
        return wrapper  # type: ignore[return-value]

    return decorate


def public(view: F) -> F:
    view.roles = ()  # type: ignore[attr-defined]
    view.public = True  # type: ignore[attr-defined]
    return view


def home_url(role: str) -> str:
    return url_for(HOME[role])


def _same_origin(origin: str, public_url: str | None) -> bool:
    parsed = urlparse(origin)
    allowed = {request.host_url.rstrip("/")}
    if public_url:
        allowed.add(public_url.rstrip("/"))
    return f"{parsed.scheme}://{parsed.netloc}" in allowed


def init_auth(app: Flask, auth: Auth, *, secret_key: str | None, public_url: str | None,
              console_blueprints: frozenset[str]) -> None:
    if secret_key:
        app.secret_key = secret_key
    else:
        app.secret_key = secrets.token_bytes(32)
        log.warning("IVR_SECRET_KEY is not set: console sessions are signed with a random key made "
                    "at this start (they end on restart and do not work across engine processes)")
    app.session_interface = LoggingSessionInterface()
    app.config.update(
        SESSION_COOKIE_NAME="ivr_console",
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=bool(public_url and public_url.lower().startswith("https://")),
        PERMANENT_SESSION_LIFETIME=auth.session_seconds,
    )
    app.extensions["ivr.console.auth"] = auth
    app.extensions["ivr.console.security"] = auth.security
    app.jinja_env.globals["csrf_token"] = csrf_token
    app.jinja_env.globals["current_user"] = current

    @app.before_request
    def load_principal() -> Any:
        if request.blueprint not in console_blueprints:
            return None
        sid = session.get("sid")
        g.principal = auth.principal(sid) if sid else None
        if sid and g.principal is None:
            session.pop("sid", None)
            auth.security.record("stale_session", ip=client_ip(), path=request.path)
        if request.method in UNSAFE:
            origin = request.headers.get("Origin")
            if origin and origin != "null" and not _same_origin(origin, public_url):
                return refuse(403, "cross_origin", "Запрос с чужого сайта отклонён", origin=origin[:200])
            given = request.headers.get("X-CSRF-Token") or request.form.get("csrf_token") or ""
            expected = session.get("csrf") or ""
            if not expected or not hmac.compare_digest(str(given), str(expected)):
                return refuse(403, "csrf", "Нет или неверный CSRF-токен; обновите страницу")
        return None

    @app.after_request
    def security_headers(response: Any) -> Any:
        if request.blueprint in console_blueprints:
            response.headers.setdefault(
                "Content-Security-Policy",
                "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
                "media-src 'self' blob:; connect-src 'self'; object-src 'none'; base-uri 'none'; "
                "form-action 'self'; frame-ancestors 'none'")
            response.headers.setdefault("X-Content-Type-Options", "nosniff")
            response.headers.setdefault("X-Frame-Options", "DENY")
            response.headers.setdefault("Referrer-Policy", "same-origin")
            if response.mimetype != "text/event-stream" and not request.path.startswith("/console/static"):
                response.headers.setdefault("Cache-Control", "no-store")
        return response
