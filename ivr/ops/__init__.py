"""Operations: the call id on every log line, masked JSON logs, Prometheus metrics.

* :mod:`ivr.ops.context` — which call a line of work belongs to (a ``ContextVar``);
* :mod:`ivr.ops.logging` — ``configure_logging``: JSON lines, personal data masked;
* :mod:`ivr.ops.metrics` — ``Metrics``: one ``CollectorRegistry`` per engine.

Nothing here runs at import time: the composition root builds and installs it all.
"""
