"""``create_app``: the Flask app of the public port (``ivr serve --http``); ``create_ops_app``:
the operational listener's (``engine.ops_http``).

Both answer ``/healthz`` and ``/readyz`` (load balancers probe the public port).
``/metrics`` and ``/queues`` (what every queue holds, the operators by state) are the
operational pages: on the ops listener they answer; on the public port, which Twilio and
the whole Internet reach, only to ``Authorization: Bearer $IVR_METRICS_TOKEN``: 404 when
no token is configured (the pages are not there), 401 when one is and the request lacks it.
With a token configured the ops listener asks for it too.
"""

from __future__ import annotations

import dataclasses
import hmac
from typing import Any

from flask import Blueprint, Flask, Response, abort, current_app, jsonify, request
from flask.json.provider import DefaultJSONProvider
from twilio.http import HttpClient

from ivr.console.wiring import init_console
from ivr.engine import Engine
from ivr.ops.metrics import CONTENT_TYPE

MIN_TOKEN_LENGTH = 16


def metrics_token_problem(token: str | None) -> str | None:
    """Why ``token`` (IVR_METRICS_TOKEN) cannot be used, or None."""
    if token is not None and len(token) < MIN_TOKEN_LENGTH:
        return f"IVR_METRICS_TOKEN must be at least {MIN_TOKEN_LENGTH} characters (e.g. `openssl rand -hex 24`)"
    return None


def _bearer_matches(token: str) -> bool:
    scheme, _, given = request.headers.get("Authorization", "").partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode(), token.encode())


def ops_pages(*, token: str | None, public: bool) -> Blueprint:
    """``/metrics`` and ``/queues``; ``public``: on the public port (see the module docstring)."""
    pages = Blueprint("ops", __name__)

    @pages.before_request
    def authorised() -> Response | None:
        if token is None:
            if public:
                abort(404)
            return None
        if _bearer_matches(token):
            return None
        refused = Response("a bearer token is needed (IVR_METRICS_TOKEN)\n", 401, mimetype="text/plain")
        refused.headers["WWW-Authenticate"] = 'Bearer realm="ivr-ops"'
        return refused

    pages.add_url_rule("/metrics", view_func=metrics)
    pages.add_url_rule("/queues", view_func=queues)
    return pages


health = Blueprint("health", __name__)


def _engine() -> Engine:
    engine: Engine = current_app.extensions["ivr.engine"]
    return engine


# On the operational listener only: who published a menu, its file's path, the refused edit's
# problems.  The public port (the one Twilio and the whole network reach) says alive or
# ready, and each menu's version and source, to anyone (issue 20's attack: an anonymous
# /healthz named the supervisors who publish and the engine's directories).
DETAIL = "ivr.health_detail"


def _detail() -> bool:
    return bool(current_app.config.get(DETAIL))


@health.get("/healthz")
def healthz() -> Any:
    """Alive (always 200 while the process answers), with what serves: each menu's live
    version and its source, and (operational listener) who and which file, and the last
    menu edit refused (the running version stays)."""
    menus = _engine().menus
    refused = menus.refused
    sources = {name: source.to_dict() for name, source in sorted(menus.sources().items())}
    if not _detail():
        return jsonify(status="alive", menus={name: {"version": d["version"], "source": d["source"]}
                                              for name, d in sources.items()},
                       menu_edit_refused=refused is not None)
    return jsonify(status="alive", menus=sources,
                   menu_edit_refused=None if refused is None else refused.to_dict())


@health.get("/readyz")
def readyz() -> Any:
    """Able to take calls: Redis reachable, menus loaded (a refused edit leaves the last good
    version serving, so it does not make the engine unready), recording key present, and
    not stopping (draining)."""
    engine = _engine()
    checks = engine.ready()
    draining = engine.draining.is_set()
    ready = all(checks.values()) and not draining
    said: dict[str, Any] = {"ready": ready, "checks": checks, "draining": draining}
    if _detail():
        said["menu_problems"] = [str(p) for p in engine.menus.problems]
    return jsonify(said), 200 if ready else 503


def metrics() -> Response:
    return Response(_engine().metrics.exposition(), mimetype=None, content_type=CONTENT_TYPE)


def queues() -> Any:
    snapshots = _engine().router.snapshot()
    return jsonify(queues=[dataclasses.asdict(s) for s in snapshots])


class BoundedJSON(DefaultJSONProvider):
    """Flask's JSON, where a body nested deeper than Python's recursion limit (``[[[[...``,
    200 KB from a logged-in client) is bad JSON (``get_json(silent=True)``: None; else 400),
    not a RecursionError answering 500."""

    def loads(self, s: str | bytes, **kwargs: Any) -> Any:
        try:
            return super().loads(s, **kwargs)
        except RecursionError:
            raise ValueError("JSON nested too deeply") from None


def create_app(
    engine: Engine, *, twilio_http_client: HttpClient | None = None, twilio: Blueprint | None = None
) -> Flask:
    """The app for ``engine``.  ``twilio_http_client`` replaces Twilio's network, ``twilio``
    the whole Twilio blueprint (tests that compose the front end themselves)."""
    from ivr.twilio.wiring import twilio_blueprint

    app = Flask("ivr")
    app.json = BoundedJSON(app)
    app.extensions["ivr.engine"] = engine
    app.register_blueprint(health)
    app.register_blueprint(ops_pages(token=engine.secrets.metrics_token, public=True))
    app.register_blueprint(twilio or twilio_blueprint(engine, http_client=twilio_http_client))
    init_console(app, engine)
    return app


def create_ops_app(engine: Engine) -> Flask:
    """The app of the operational listener (``engine.ops_http``)."""
    app = Flask("ivr-ops")
    app.json = BoundedJSON(app)
    app.config[DETAIL] = True
    app.extensions["ivr.engine"] = engine
    app.register_blueprint(health)
    app.register_blueprint(ops_pages(token=engine.secrets.metrics_token, public=False))
    return app
