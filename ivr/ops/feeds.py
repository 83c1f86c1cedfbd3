"""Where the metrics that live in Redis come from: the routing event stream, read at
tick time through a consumer group, and collectors that read shared state at scrape.

:class:`RoutingEventFeed` reads ``{ivr}:events`` with ``XREADGROUP ... NOACK`` in the
consumer group :data:`GROUP`: Redis hands each event to exactly one engine process, so
the counters of all processes add up to the hotline's total however many run.  The
group is created at ``$`` (events from before it existed are not counted) and again
after a Redis that lost it (a restart without persistence).

The collectors run on every scrape and never raise: a Redis that is down makes them
report ``ivr_redis_up 0`` and nothing else.
"""

from __future__ import annotations

import logging
import os
import socket
import time
from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING, Any

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from ivr.ops.metrics import Metrics

if TYPE_CHECKING:
    from ivr.asterisk.server import FastAgiServer
    from ivr.menu.live import LiveMenus
    from ivr.recordings.store import RecordingStore
    from routing.engine import Router

log = logging.getLogger(__name__)
GROUP = "ivr-metrics"
BATCH = 500


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


class RoutingEventFeed:
    def __init__(self, *, redis: Any, stream: str, metrics: Metrics, consumer: str | None = None,
                 max_batches: int = 20) -> None:
        self.redis = redis
        self.stream = stream
        self.metrics = metrics
        self.consumer = consumer or f"{socket.gethostname()}-{os.getpid()}"
        self.max_batches = max_batches
        self._ready = False
        self._warned_at = 0.0

    def _create_group(self) -> None:
        try:
            self.redis.xgroup_create(self.stream, GROUP, id="$", mkstream=True)
        except Exception as exc:  # BUSYGROUP: another process made it
            if "BUSYGROUP" not in str(exc):
                raise
        self._ready = True

    def poll(self) -> int:
        """Count the events that arrived since the last poll; returns how many."""
        counted = 0
        try:
            if not self._ready:
                self._create_group()
            for _ in range(self.max_batches):
                try:
                    reply = self.redis.xreadgroup(GROUP, self.consumer, {self.stream: ">"},
                                                  count=BATCH, noack=True)
                except Exception as exc:
                    if "NOGROUP" not in str(exc):
                        raise
                    self._create_group()
                    continue
                entries = _entries(reply)
                for _eid, fields in entries:
                    if fields:  # trimmed entries come back empty
                        self.metrics.routing_event({_text(k): _text(v) for k, v in fields.items()})
                        counted += 1
                if len(entries) < BATCH:
                    break
        except Exception as exc:  # noqa: BLE001 - metrics must never stop the engine's tick
            now = time.monotonic()
            if now - self._warned_at > 60:
                self._warned_at = now
                log.warning("routing events for metrics: %s: %s", type(exc).__name__, exc)
        return counted

    def close(self) -> None:
        """Leave the group (the consumer's name dies with the process)."""
        try:
            self.redis.xgroup_delconsumer(self.stream, GROUP, self.consumer)
        except Exception as exc:  # noqa: BLE001 - best effort at exit
            log.debug("leaving the metrics group: %s", exc)


def _entries(reply: Any) -> list[tuple[Any, dict[Any, Any]]]:
    if not reply:
        return []
    if isinstance(reply, dict):  # RESP3
        return list(next(iter(reply.values()))[0])
    return list(reply[0][1])


class QueueCollector(Collector):
    """Queue and operator figures from ``router.snapshot()`` (shared state: use ``max``)."""

    def __init__(self, router: Router) -> None:
        self.router = router

    def collect(self) -> Iterator[Any]:
        up = GaugeMetricFamily("ivr_redis_up", "Redis answered the last scrape's queue snapshot")
        try:
            snapshots = self.router.snapshot()
        except Exception as exc:  # noqa: BLE001 - a scrape must not fail with Redis
            log.debug("queue snapshot for metrics failed: %s", exc)
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        yield up
        families = {
            "waiting": GaugeMetricFamily("ivr_queue_waiting", "Calls waiting in the queue", labels=["queue"]),
            "longest_wait": GaugeMetricFamily("ivr_queue_longest_wait_seconds",
                                              "How long the first caller in line has waited", labels=["queue"]),
            "expected_wait": GaugeMetricFamily("ivr_queue_expected_wait_seconds",
                                               "Expected wait of a call joining now", labels=["queue"]),
            "callbacks_pending": GaugeMetricFamily("ivr_queue_callbacks_pending",
                                                   "Callbacks booked, not yet made", labels=["queue"]),
            "open": GaugeMetricFamily("ivr_queue_open", "1 while the queue's hours are open", labels=["queue"]),
            "answered": GaugeMetricFamily("ivr_queue_answered_today", "Calls answered today (Moscow day)",
                                          labels=["queue"]),
            "abandoned": GaugeMetricFamily("ivr_queue_abandoned_today", "Calls abandoned today (Moscow day)",
                                           labels=["queue"]),
            "service_level": GaugeMetricFamily("ivr_queue_service_level",
                                               "Share answered within the target today", labels=["queue"]),
        }
        operators = GaugeMetricFamily("ivr_queue_operators", "Operators fit for the queue, by state",
                                      labels=["queue", "state"])
        for snap in snapshots:
            for name, family in families.items():
                value = getattr(snap, name)
                if value is not None:
                    family.add_metric([snap.queue], float(value))
            for state, count in snap.operators.items():
                operators.add_metric([snap.queue, state], count)
        yield from families.values()
        yield operators


class RecordingsCollector(Collector):
    """How many recordings the index holds now (shared state)."""

    def __init__(self, store: RecordingStore) -> None:
        self.store = store

    def collect(self) -> Iterator[Any]:
        gauge = GaugeMetricFamily("ivr_recordings_stored", "Recordings kept (encrypted) now")
        try:
            index = self.store.index
            gauge.add_metric([], float(index.redis.zcard(index.keys.by_created)))
        except Exception as exc:  # noqa: BLE001 - a scrape must not fail with Redis
            log.debug("recordings count for metrics failed: %s", exc)
            return
        yield gauge


class FastAgiCollector(Collector):
    """Calls on this process's FastAGI servers: in progress, served, refused."""

    def __init__(self, *servers: FastAgiServer) -> None:
        self.servers = list(servers)

    def collect(self) -> Iterable[Any]:
        active = GaugeMetricFamily("ivr_agi_calls_active", "FastAGI calls in progress", labels=["listen"])
        served = CounterMetricFamily("ivr_agi_calls_served", "FastAGI calls served to the end",
                                     labels=["listen"])
        refused = CounterMetricFamily("ivr_agi_calls_refused", "FastAGI calls refused (engine full or stopping)",
                                      labels=["listen"])
        closed = CounterMetricFamily(
            "ivr_agi_connections_refused",
            "FastAGI connections closed (not_allowed: not in asterisk.allowed_hosts; host_full: over "
            "asterisk.calls_per_host; dropped_waiting: without an environment, dropped for a newer one)",
            labels=["listen", "reason"])
        waiting = GaugeMetricFamily("ivr_agi_connections_waiting",
                                    "FastAGI connections holding a slot without their environment yet",
                                    labels=["listen"])
        for server in self.servers:
            listen = f"{server.address[0]}:{server.address[1]}"
            active.add_metric([listen], server.active_calls)
            served.add_metric([listen], server.calls_served)
            refused.add_metric([listen], server.calls_refused)
            admission = server.admission
            for reason, count in admission.refused.items():
                closed.add_metric([listen, reason], count)
            closed.add_metric([listen, "dropped_waiting"], admission.dropped_waiting)
            waiting.add_metric([listen], admission.waiting)
        return [active, served, refused, closed, waiting]


class ReadinessCollector(Collector):
    """``ivr_ready{check}``: the /readyz checks as gauges."""

    def __init__(self, ready: Callable[[], dict[str, bool]]) -> None:
        self.ready = ready

    def collect(self) -> Iterator[Any]:
        gauge = GaugeMetricFamily("ivr_ready", "1 when the readiness check passes", labels=["check"])
        try:
            checks = self.ready()
        except Exception:  # noqa: BLE001 - a scrape must not fail
            return
        for check, ok in checks.items():
            gauge.add_metric([check], 1.0 if ok else 0.0)
        yield gauge


class MenuCollector(Collector):
    """The menus this process serves: ``ivr_menu_version{menu,source}``,
    ``ivr_menu_edit_refused`` (1 while the last edit stays refused) and
    ``ivr_menu_edits_refused_total``."""

    def __init__(self, menus: LiveMenus) -> None:
        self.menus = menus

    def collect(self) -> Iterator[Any]:
        version = GaugeMetricFamily("ivr_menu_version", "The version each menu serves, by its source",
                                    labels=["menu", "source"])
        for name, source in sorted(self.menus.sources().items()):
            version.add_metric([name, source.source], float(source.version))
        refused = GaugeMetricFamily("ivr_menu_edit_refused",
                                    "1 while the last menu edit is refused (the running version serves)")
        refused.add_metric([], 1.0 if self.menus.refused is not None else 0.0)
        total = CounterMetricFamily("ivr_menu_edits_refused", "Menu reloads refused since start")
        total.add_metric([], float(self.menus.refusals))
        return iter([version, refused, total])
