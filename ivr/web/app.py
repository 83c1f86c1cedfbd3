"""``create_app``: the Flask app that ``ivr serve --http`` serves."""

from __future__ import annotations

import dataclasses
from typing import Any

from flask import Blueprint, Flask, current_app, jsonify
from twilio.http import HttpClient

from ivr.console.wiring import init_console
from ivr.engine import Engine

ops = Blueprint("ops", __name__)


def _engine() -> Engine:
    engine: Engine = current_app.extensions["ivr.engine"]
    return engine


@ops.get("/healthz")
def healthz() -> Any:
    return jsonify(status="alive")


@ops.get("/readyz")
def readyz() -> Any:
    checks = _engine().ready()
    ready = all(checks.values())
    problems = [str(p) for p in _engine().menus.problems]
    return jsonify(ready=ready, checks=checks, menu_problems=problems), 200 if ready else 503


@ops.get("/queues")
def queues() -> Any:
    snapshots = _engine().router.snapshot()
    return jsonify(queues=[dataclasses.asdict(s) for s in snapshots])


def create_app(engine: Engine, *, twilio_http_client: HttpClient | None = None) -> Flask:
    """The app for ``engine``; ``twilio_http_client`` replaces Twilio's network (tests)."""
    from ivr.twilio.wiring import twilio_blueprint

    app = Flask("ivr")
    app.extensions["ivr.engine"] = engine
    app.register_blueprint(ops)
    app.register_blueprint(twilio_blueprint(engine, http_client=twilio_http_client))
    init_console(app, engine)
    return app
