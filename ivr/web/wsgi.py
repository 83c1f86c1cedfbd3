"""The HTTP app for a WSGI server (gunicorn), one engine per worker process.

    REDIS_URL=redis://10.0.0.5:6379/0 IVR_CONFIG=/etc/ivr/config.yaml \\
        gunicorn --workers 1 --threads 16 --bind 127.0.0.1:8080 'ivr.web.wsgi:app()'

``app()`` (the factory form) builds the engine from ``IVR_CONFIG`` and the secrets in
the environment, configures the masked JSON logs, starts the engine's background
work in a daemon thread (menu reloads, queue assignment, purge, metrics; set
``IVR_WSGI_TICK=0`` when ``ivr serve`` processes already do it) and returns the
Flask app.  ``ivr.web.wsgi:app`` without the parentheses works too: it is then a
WSGI callable that builds the same app on its first request.

Every worker is a separate engine, so they must share one Redis: ``REDIS_URL`` is
required (an embedded Redis per worker would split the queues).  Each worker has its
own ``/metrics``; run one worker with threads per port (as above) and scale out with
more processes, each scraped on its own port.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable, Iterable
from typing import Any

from flask import Flask

log = logging.getLogger(__name__)
_built: Flask | None = None
_lock = threading.Lock()


def create(environ: dict[str, str] | None = None) -> Flask:
    from ivr.config import Secrets, load_config
    from ivr.engine import build_engine
    from ivr.ops.logging import configure_logging
    from ivr.web.app import create_app

    env = dict(os.environ if environ is None else environ)
    configure_logging(level=env.get("IVR_LOG_LEVEL", "INFO").upper(),
                      json_lines=env.get("IVR_LOG_FORMAT", "json") == "json")
    secrets = Secrets.from_env(env)
    if not secrets.redis_url:
        raise RuntimeError("the HTTP app under a WSGI server needs REDIS_URL: every worker "
                           "is an engine, and they must share one Redis")
    engine = build_engine(load_config(env.get("IVR_CONFIG", "config.yaml")), secrets)
    engine.start_metrics()
    if env.get("IVR_WSGI_TICK", "1") != "0":
        threading.Thread(target=_background, args=(engine,), name="ivr-tick", daemon=True).start()
    return create_app(engine)


def _background(engine: Any) -> None:
    stop = threading.Event()
    while not stop.wait(1.0):
        try:
            engine.tick()
        except Exception:
            log.exception("background work failed; retrying in a second")


def app(environ: dict[str, Any] | None = None,
        start_response: Callable[..., Any] | None = None) -> Any:
    """``app()``: a new app (gunicorn's factory form).  ``app(environ, start_response)``:
    plain WSGI, the app built once on the first request."""
    global _built
    if environ is None:
        return create()
    if _built is None:
        with _lock:
            if _built is None:
                _built = create()
    result: Iterable[bytes] = _built(environ, start_response)  # type: ignore[arg-type]
    return result
