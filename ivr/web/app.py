"""``create_app``: the Flask app that ``ivr serve --http`` serves."""

from __future__ import annotations

import dataclasses
from typing import Any

from flask import Blueprint, Flask, Response, current_app, jsonify

from ivr.engine import Engine
from ivr.ops.metrics import CONTENT_TYPE

ops = Blueprint("ops", __name__)


def _engine() -> Engine:
    engine: Engine = current_app.extensions["ivr.engine"]
    return engine


@ops.get("/healthz")
def healthz() -> Any:
    return jsonify(status="alive")


@ops.get("/readyz")
def readyz() -> Any:
    """Redis reachable, menus loaded, recording key present, and not stopping (draining)."""
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


def create_app(engine: Engine) -> Flask:
    app = Flask("ivr")
    app.extensions["ivr.engine"] = engine
    app.register_blueprint(ops)
    return app
