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
from typing import Any, Protocol

from ivr.aftermenu import CallbackAnswered, CallLife
from ivr.aftermenu.control import Controls, LiveControl
from ivr.aftermenu.life import Applied
from ivr.audit.logs import AuditLogs, audit_logs
from ivr.call.calllog import CallLog
from ivr.call.routed import RoutedServices
from ivr.call.runner import CallObserver
from ivr.config import Config, ConfigError, Secrets
from ivr.config.watch import ConfigFileWatch
from ivr.firstrun import is_trial
from ivr.firstrun.devkey import development_key
from ivr.firstrun.folders import local_folders
from ivr.flow.context import CallContext
from ivr.menu.live import LiveMenus
from ivr.menu.versions import MenuVersions
from ivr.ops.calllog import CallLogLine, Observers
from ivr.ops.feeds import (
    MenuCollector,
    QueueCollector,
    ReadinessCollector,
    RecordingsCollector,
    RoutingEventFeed,
)
from ivr.ops.instances import InstanceRegistry
from ivr.ops.metrics import Metrics
from ivr.ops.probe import redis_answers
from ivr.prompts.catalog import PromptCatalog, load_catalog
from ivr.recordings.wiring import Recordings, build_recordings
from ivr.speech.recogniser import Recogniser
from routing.appeals import AppealBook, identity_key
from routing.engine import CALLBACK_PREFIX, Router
from routing.model import Assignment
from routing.redis_conn import connect

log = logging.getLogger("ivr.engine")


class CallbackDialer(Protocol):
    """Places a callback whose turn came (an operator is reserved for it) and reports how
    it went with ``router.callback_result``.  Never raises for one call's failure: a
    callback it cannot place keeps its place once the reservation expires."""

    def place_callback(self, assignment: Assignment) -> None: ...


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
    startup_messages: list[str] = field(default_factory=list)
    config_watch: ConfigFileWatch = field(default_factory=lambda: ConfigFileWatch(None))
    # Called with the final call context when the menu is done with a call (call log,
    # metrics, the softphone's summary).
    call_observers: list[Callable[[CallContext, float], object]] = field(default_factory=list)
    # Who places due callbacks, by the channel the call came in on ("asterisk": AMI
    # Originate, "twilio": the REST API); a channel without one: its callbacks wait.
    dialers: dict[str, CallbackDialer] = field(default_factory=dict)
    # The channels whose telephony tells routing that an operator answered a call handed
    # over to them ("asterisk" with AMI: DialEnd).  For the others the operator says it,
    # with the "answered" button on the screen-pop (the same routing transition).
    answer_events: set[str] = field(default_factory=set)
    # What acts on a bridged call (transfer, supervision, recording pause), by front end:
    # "asterisk" (AMI), "twilio" (the REST API); the console reaches them via ``controls``.
    live_controls: dict[str, LiveControl] = field(default_factory=dict)
    # Where every front end sends what became of a call after the menu (ivr.aftermenu).
    life: CallLife | None = None
    # More background work the front ends register (Twilio's REST bridging).
    background: list[Callable[[], object]] = field(default_factory=list)
    # The call records the supervisors' funnel reads (one of the observers).
    call_log: CallLog | None = None
    metrics: Metrics = field(default_factory=Metrics)
    routing_events: RoutingEventFeed | None = None
    observer: CallObserver | None = None  # every call step: metrics, the call log, the instance
    instances: InstanceRegistry | None = None  # this process among those sharing the Redis
    # Set when the process is stopping: /readyz answers 503 so balancers stop sending.
    draining: threading.Event = field(default_factory=threading.Event)
    # Where a caller's answers are recorded (RECORD FILE) when not Asterisk's own folder:
    # the clip folder a trial checkout uses on a machine without Asterisk (ivr.firstrun).
    record_dir: str | None = None
    # Every audit log (anchored in Redis, checkpointed by tick()).
    audit: AuditLogs | None = None

    def services(self) -> RoutedServices:
        return RoutedServices(router=self.router, appeals=self.appeals, call_log=self.call_ended,
                              life=self.call_life)

    @property
    def controls(self) -> Controls:
        return Controls(legs=self.call_life.legs, fronts=self.live_controls)  # type: ignore[arg-type]

    @property
    def call_life(self) -> CallLife:
        if self.life is None:
            self.life = CallLife(router=self.router)
        return self.life

    def call_ended(self, ctx: CallContext, at: float) -> None:
        """The engine is done with a call: every observer hears of it (consent log and voice
        clips, call log, metrics)."""
        for observer in self.call_observers:
            try:
                observer(ctx, at)
            except Exception:  # an observer must never break a call
                log.exception("call observer failed")

    def tick(self) -> None:
        """Background work, run about once a second: reloads, assignment, callbacks,
        purge, the recordings spool."""
        self.config_watch.check()
        self.menus.reload()
        self.router.assign()
        # Where no telephony says "no answer" (the terminal softphone: only the console's
        # "answered" button), a phone that rang past the ring time was missed.
        self.call_life.ring_timeouts(self.config.routing.ring_seconds,
                                     channels=lambda channel: channel not in self.answer_events)
        if self.dialers:
            for assignment in self.router.due_callbacks():
                dialer = self.dialers.get(str(assignment.context.get("channel") or "asterisk"))
                if dialer is None:
                    log.warning("callback %s: no dialer for its channel; it keeps its place",
                                assignment.callback_id)
                    continue
                dialer.place_callback(assignment)
        self.recordings.tick()
        if self.audit is not None:
            self.audit.tick()
        for work in self.background:
            work()
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
        checks = {"menus": self.menus.loaded,
                  "recording_key": self.recordings.key_ready}
        checks["redis"] = redis_answers(self.redis)  # at once, even while Redis is down or hung
        return checks


def build_engine(
    config: Config,
    secrets: Secrets,
    *,
    redis: Any = None,
    clock: Callable[[], float] = time.time,
) -> Engine:
    messages: list[str] = []
    trial = redis is None and is_trial(config, secrets)
    warnings: list[str] = []
    if trial:
        key = development_key(config, secrets)
        config = key.config
        warnings.extend([key.warning] if key.warning else [])
    folders = local_folders(config, trial=trial)
    config = folders.config
    warnings.extend(folders.warnings)
    if redis is None:
        url = secrets.redis_url or config.redis.url
        redis = connect(url, embedded_dir=config.path(config.redis.embedded_dir))
        where = "REDIS_URL" if secrets.redis_url else url or (
            f"embedded, {config.path(config.redis.embedded_dir)}/redis.sock (shared with this checkout's "
            "other ivr processes; the last one to leave stops it)")
        messages.append(f"redis: {where}")
    def prompts() -> PromptCatalog:
        catalog, problems = load_catalog(config.path(config.prompts.dir))
        if problems:
            raise ConfigError(problems)
        return catalog

    versions = MenuVersions(redis=redis, prefix=config.redis.prefix, clock=clock)
    menus = LiveMenus(config=config, prompts=prompts, versions=versions, clock=clock)
    menus.load()
    router = Router(redis=redis, queues=config.queues, operators=config.operators,
                    settings=config.routing, calendar=config.calendar, clock=clock,
                    prefix=config.redis.prefix)
    identity, identity_message = identity_key(redis, prefix=config.redis.prefix, given=secrets.identity_key)
    messages.append(identity_message)
    appeals = AppealBook(redis=redis, prefix=config.redis.prefix, clock=clock, identity=identity)
    audit = audit_logs(config, redis, secrets=secrets, clock=clock)
    audit.start()
    recordings = build_recordings(config, secrets, redis, clock=clock, logs=audit)
    log.log(recordings.startup_level, recordings.startup_message)  # a malformed key: ERROR
    recordings.start()
    metrics = Metrics(queues=list(config.queues))
    life = CallLife(router=router)
    life.listeners.append(callback_operator(router, recordings))  # a callback's talk: who took it
    instances = InstanceRegistry(redis=redis, router=router, lease=config.engine.instance_lease, life=life)
    model = secrets.vosk_model_path or (config.path(config.speech.vosk_model) if config.speech.vosk_model else None)
    recogniser = Recogniser(model, workers=config.speech.workers, max_seconds=config.speech.max_seconds,
                            on_result=metrics.recognised)
    if recogniser.available:  # OFF: the recogniser has said so already, as a warning
        messages.append(recogniser.status_message())
    call_log = CallLog(redis=redis, prefix=config.redis.prefix, clock=clock,
                       menu_of=lambda ctx: config.menus.numbers.get(ctx.dialled, config.menus.entry))
    for message in messages:
        log.info(message)
    for warning in warnings:
        log.warning(warning)
    recordings.on_purged = metrics.purged
    engine = Engine(config=config, secrets=secrets, redis=redis, router=router, appeals=appeals,
                    menus=menus, recordings=recordings, recogniser=recogniser, clock=clock,
                    startup_messages=messages, config_watch=ConfigFileWatch(config.source),
                    call_observers=[recordings.call_ended, call_log.record], call_log=call_log,
                    metrics=metrics, observer=Observers(metrics, CallLogLine()), instances=instances,
                    routing_events=RoutingEventFeed(redis=redis, stream=router.keys.events, metrics=metrics),
                    record_dir=folders.record_dir, life=life, audit=audit)
    metrics.registry.register(QueueCollector(router))
    metrics.registry.register(RecordingsCollector(recordings.store))
    metrics.registry.register(ReadinessCollector(engine.ready))
    metrics.registry.register(MenuCollector(menus))
    return engine


def callback_operator(router: Router, recordings: Recordings) -> Callable[[Applied], None]:
    """A CallLife listener: a callback the citizen answered is a conversation after the menu's
    call ended; its operator joins that call's records (consent record, stored name), so the
    conversation's recording and the name are indexed under who took the callback."""
    def heard(applied: Applied) -> None:
        if not isinstance(applied.outcome, CallbackAnswered):
            return
        call_id = applied.outcome.callback_id.removeprefix(CALLBACK_PREFIX)
        assignment = router.status(call_id).assignment
        if assignment is not None:
            recordings.operator_joined(call_id, assignment.operator_id)

    return heard
