"""``create_app``: the Flask app that ``ivr serve --http`` serves."""

from __future__ import annotations

import dataclasses
from typing import Any

from flask import Blueprint, Flask, Response, current_app, jsonify
from twilio.http import HttpClient

from ivr.console.wiring import init_console
from ivr.engine import Engine
from ivr.ops.metrics import CONTENT_TYPE

ops = Blueprint("ops", __name__)


def _engine() -> Engine:
    engine: Engine = current_app.extensions["ivr.engine"]
    return engine


@ops.get("/healthz")
def healthz() -> Any:
    """Alive (always 200 while the process answers), with what serves: each menu's live
    version and its source, and the last menu edit refused (the running version stays)."""
    menus = _engine().menus
    refused = menus.refused
    return jsonify(status="alive",
                   menus={name: source.to_dict() for name, source in sorted(menus.sources().items())},
                   menu_edit_refused=None if refused is None else refused.to_dict())


@ops.get("/readyz")
def readyz() -> Any:
    """Able to take calls: Redis reachable, menus loaded (a refused edit leaves the last good
    version serving, so it does not make the engine unready), recording key present, and
    not stopping (draining)."""
    engine = _engine()
    checks = engine.ready()
    draining = engine.draining.is_set()
    ready = all(checks.values()) and not draining
    problems = [str(p) for p in engine.menus.problems]
    return (jsonify(ready=ready, checks=checks, draining=draining, menu_problems=problems),
            200 if ready else 503)


@ops.get("/metrics")
def metrics() -> Response:
    return Response(_engine().metrics.exposition(), mimetype=None, content_type=CONTENT_TYPE)


@ops.get("/queues")
def queues() -> Any:
    snapshots = _engine().router.snapshot()
    return jsonify(queues=[dataclasses.asdict(s) for s in snapshots])


def create_app(
    engine: Engine, *, twilio_http_client: HttpClient | None = None, twilio: Blueprint | None = None
) -> Flask:
    """The app for ``engine``.  ``twilio_http_client`` replaces Twilio's network, ``twilio``
    the whole Twilio blueprint (tests that compose the front end themselves)."""
    from ivr.twilio.wiring import twilio_blueprint

    app = Flask("ivr")
    app.extensions["ivr.engine"] = engine
    app.register_blueprint(ops)
    app.register_blueprint(twilio or twilio_blueprint(engine, http_client=twilio_http_client))
    init_console(app, engine)
    return app
