"""``create_app``: the Flask app that ``ivr serve --http`` serves."""

from __future__ import annotations

import dataclasses
from typing import Any

from flask import Blueprint, Flask, current_app, jsonify

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


def create_app(engine: Engine) -> Flask:
    app = Flask("ivr")
    app.extensions["ivr.engine"] = engine
    app.register_blueprint(ops)
    init_console(app, engine)
    return app
