"""The operational pages as a newcomer and an administrator meet them.

The README's command: ``/metrics`` and ``/queues`` answer on 127.0.0.1:9108 (what the README
says), the public port (the one a tunnel or Twilio reaches) answers them 404.  With
``IVR_METRICS_TOKEN`` in the environment the public port answers them to its bearer alone; a
token too short to be one stops the start.
"""

from __future__ import annotations

import re

from tests.journeys.product import DEFAULT_OPS_PORT, ROOT, Product, free_port, newcomer_env

TOKEN = "journey-metrics-token-0123456789"


def test_a_newcomer_reads_metrics_and_queues_on_loopback_9108_and_not_on_the_public_port(
        product: Product) -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert f"`/queues` on 127.0.0.1:{DEFAULT_OPS_PORT}" in readme.replace("\n", " ")
    serving = product.serve(ops_default=True)  # the README's command: config.yaml's ports
    assert serving.ops == DEFAULT_OPS_PORT
    serving.wait_log(rf"ops: /metrics and /queues on 127\.0\.0\.1:{DEFAULT_OPS_PORT}")
    for path in ("/metrics", "/queues"):
        assert serving.get(path).status == 404, path
    metrics = serving.ops_get("/metrics")
    assert metrics.status == 200 and re.search(r"^ivr_redis_up 1\.0$", metrics.text, re.MULTILINE), metrics.text[:500]
    queues = serving.ops_get("/queues").json()["queues"]
    assert {q["queue"] for q in queues} >= {"general", "special"}
    assert all("server" not in {k.lower() for k in reply.headers} for reply in (serving.get("/healthz"), metrics))
    serving.stop()


def test_an_administrator_scrapes_the_public_port_with_the_token(product: Product) -> None:
    serving = product.serve(env=newcomer_env(IVR_METRICS_TOKEN=TOKEN))
    for path in ("/metrics", "/queues"):
        refused = serving.get(path)
        assert refused.status == 401 and {k.lower(): v for k, v in refused.headers.items()}.get("www-authenticate") == 'Bearer realm="ivr-ops"'
        assert serving.ops_get(path).status == 401
        bearer = {"Authorization": f"Bearer {TOKEN}"}
        assert serving.request("GET", path, headers=bearer).status == 200
        assert serving.ops_get(path, headers=bearer).status == 200
    serving.stop()


def test_a_token_too_short_stops_the_start(product: Product) -> None:
    done = product.ivr("serve", "--fastagi", "off", "--http", f"127.0.0.1:{free_port()}", "--ops-http", "off",
                       env=newcomer_env(IVR_METRICS_TOKEN="short"))
    assert done.returncode == 2 and "IVR_METRICS_TOKEN must be at least 16 characters" in done.stderr
