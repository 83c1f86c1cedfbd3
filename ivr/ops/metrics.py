"""Prometheus metrics of one engine process, in a registry of its own.

Strategy: nothing is global.  :class:`Metrics` owns a ``CollectorRegistry``; the
composition root builds one per engine and hands its methods to the parts that
report (each a plain callback, so no feature imports ``prometheus_client``):

=====================================  ===============================================
who reports                            what
=====================================  ===============================================
``CallRunner(observer=...)``           :meth:`observe` after every step: calls in the
                                       menu, node entries, timeouts, no-match, validation
                                       failures, fallbacks, hang-ups, outcomes
``FastAgiServer(on_call_end=...)``     :meth:`agi_call_ended`: how AGI sessions end,
                                       protocol errors by kind
Twilio blueprint ``on_error``          :meth:`webhook_error`: rejections and failures
``Recogniser(on_result=...)``          :meth:`recognised`: recognition time by status
``Engine.tick``                        :meth:`purged` (purge reports) and, through
                                       :class:`ivr.ops.feeds.RoutingEventFeed`,
                                       :meth:`routing_event` (assignments, callbacks...)
scrape time                            :mod:`ivr.ops.feeds` collectors: queue figures
                                       from ``router.snapshot()``, recordings stored
=====================================  ===============================================

Label values are bounded: menus and nodes must be known to the menu the call runs
(anything else is ``other``), queues must be configured, failure reasons come from a
fixed list, error kinds are exception class names capped at :data:`MAX_KINDS`.

Across processes: per-call counters count what this process did; the routing
counters come from the shared event stream through a consumer group, so each event
is counted by exactly one process.  Sum over instances for the whole hotline.  The
queue gauges read shared state: every instance reports the same value (use ``max``).
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Collection, Mapping
from typing import TYPE_CHECKING, get_args

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from prometheus_client import (
    GCCollector as _GCCollector,
)
from prometheus_client import (
    PlatformCollector as _PlatformCollector,
)
from prometheus_client import (
    ProcessCollector as _ProcessCollector,
)
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from ivr.identity.errors import Reason

if TYPE_CHECKING:
    from ivr.asterisk.session import SessionResult
    from ivr.flow.context import Step
    from ivr.flow.engine import CallState
    from ivr.menu.model import Menu
    from ivr.recordings.purge import PurgeReport
    from ivr.speech.recogniser import Recognition

log = logging.getLogger(__name__)

CONTENT_TYPE = CONTENT_TYPE_LATEST
OTHER = "other"
MAX_MENUS = 32
MAX_KINDS = 40
REASONS = frozenset(get_args(Reason)) | {"unconfirmed"}
NO_MATCH = frozenset({"no_match", "speech", "low_confidence", "not_a_name"})
OUTCOMES = frozenset({"queued", "connected", "callback", "transferred", "hangup", "abandoned", "failed",
                      "done", "self_service", "all_busy", "closed"})
CALLBACK_EVENTS = {"callback_requested": "requested", "callback_dialled": "dialled",
                   "callback_no_answer": "no_answer", "callback_failed": "failed"}
_KIND = re.compile(r"^[A-Za-z_][A-Za-z0-9_.]{0,63}$")
RECOGNITION_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 3.0, 5.0, 8.0, 12.0)
WAIT_BUCKETS = (5.0, 10.0, 20.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1200.0)


class _Bounded:
    """Label values from a fixed set, or the first ``limit`` seen; the rest are ``other``."""

    def __init__(self, known: Collection[str] = (), *, limit: int = MAX_KINDS) -> None:
        self.known = set(known)
        self.fixed = bool(known)
        self.limit = limit
        self._lock = threading.Lock()

    def __call__(self, value: str | None) -> str:
        if not value:
            return "none"
        if value in self.known:
            return value
        if self.fixed or not _KIND.match(value):
            return OTHER
        with self._lock:
            if len(self.known) < self.limit:
                self.known.add(value)
                return value
        return OTHER


class Metrics:
    def __init__(self, *, queues: Collection[str] = (), process: bool = True) -> None:
        self.registry = CollectorRegistry(auto_describe=False)  # collectors read Redis only when scraped
        r = self.registry
        self._queue = _Bounded(queues, limit=64)
        self._menu = _Bounded(limit=MAX_MENUS)
        self._agi_kind = _Bounded()
        self._webhook_kind = _Bounded()
        if process:
            _ProcessCollector(registry=r)
            _PlatformCollector(registry=r)
            _GCCollector(registry=r)

        # -- calls in the voice menu (per process) --------------------------------------
        self.calls_in_menu = Gauge(
            "ivr_calls_in_menu", "Calls the voice menu is handling now (waiting in queue included)",
            ["channel"], registry=r)
        self.calls_started = Counter("ivr_calls_started", "Calls that entered the voice menu",
                                     ["channel"], registry=r)
        self.calls_ended = Counter("ivr_calls_ended", "Calls the voice menu finished, by outcome",
                                   ["channel", "outcome"], registry=r)
        self.node_entries = Counter("ivr_menu_node_entries", "Visits to a menu node",
                                    ["menu", "node"], registry=r)
        self.node_timeouts = Counter("ivr_menu_node_timeouts", "Nothing entered or said in time at a node",
                                     ["menu", "node"], registry=r)
        self.node_no_match = Counter("ivr_menu_node_no_match", "A key or phrase the node does not offer",
                                     ["menu", "node"], registry=r)
        self.validation_failures = Counter(
            "ivr_menu_validation_failures", "Entries refused by a validator (ИНН, СНИЛС, phone ...)",
            ["menu", "node", "reason"], registry=r)
        self.corrections = Counter("ivr_menu_corrections", "The caller asked to enter a value again",
                                   ["menu", "node"], registry=r)
        self.fallbacks = Counter("ivr_menu_fallbacks", "Callers sent on by a node's fallback after retries",
                                 ["menu", "node"], registry=r)
        self.hangups = Counter("ivr_menu_hangups", "Callers who hung up at a node", ["menu", "node"],
                               registry=r)

        # -- front ends -----------------------------------------------------------------
        self.agi_sessions = Counter("ivr_agi_sessions_ended", "FastAGI sessions by how they ended",
                                    ["ended_by"], registry=r)
        self.agi_errors = Counter("ivr_agi_errors", "FastAGI sessions ended by an error, by kind",
                                  ["kind"], registry=r)
        self.webhook_errors = Counter("ivr_webhook_errors", "Twilio webhooks rejected or failed, by kind",
                                      ["kind"], registry=r)
        self.recognition = Histogram("ivr_speech_recognition_seconds",
                                     "Speech recognition time, submission to answer",
                                     ["status"], buckets=RECOGNITION_BUCKETS, registry=r)

        # -- routing (from the shared event stream, each event counted by one process) ----
        self.enqueued = Counter("ivr_queue_enqueued", "Calls placed in a queue", ["queue"], registry=r)
        self.assignments = Counter("ivr_routing_assignments", "Operators reserved for a call or callback",
                                   ["queue", "kind"], registry=r)
        self.answered = Counter("ivr_routing_answered", "Calls and callbacks connected to an operator",
                                ["queue", "kind"], registry=r)
        self.answer_wait = Histogram("ivr_queue_wait_seconds", "Wait in queue of calls answered",
                                     ["queue"], buckets=WAIT_BUCKETS, registry=r)
        self.abandoned = Counter("ivr_queue_abandoned", "Callers who hung up while waiting", ["queue"],
                                 registry=r)
        self.overflowed = Counter("ivr_queue_overflowed", "Calls moved to the overflow queue", ["queue"],
                                  registry=r)
        self.reservations_expired = Counter("ivr_routing_reservations_expired",
                                            "Operator reservations nobody confirmed", registry=r)
        self.callbacks = Counter("ivr_callbacks", "Callbacks by outcome", ["queue", "outcome"], registry=r)
        self.calls_reaped = Counter("ivr_engine_calls_reaped",
                                    "Waiting calls of a dead engine process abandoned by this one",
                                    registry=r)
        self.routing_events_read = Counter("ivr_routing_events_read",
                                           "Routing events this process counted", registry=r)

        # -- recordings -----------------------------------------------------------------
        self.recordings_purged = Counter("ivr_recordings_purged", "Recordings deleted by the retention purge",
                                         registry=r)

    # -- export ---------------------------------------------------------------------------
    def exposition(self) -> bytes:
        return generate_latest(self.registry)

    def queue_label(self, name: str | None) -> str:
        return self._queue(name)

    # -- the voice menu (CallRunner observer) ---------------------------------------------
    def observe(self, menu: Menu, before: CallState | None, after: CallState) -> None:
        """What changed in one step of a call: new nodes, failures, exits, the end."""
        ctx = after.context
        channel = ctx.channel if ctx.channel in ("asterisk", "twilio") else OTHER
        menu_name = self._menu(menu.name)
        if before is None:
            self.calls_started.labels(channel).inc()
            self.calls_in_menu.labels(channel).inc()
        elif before.done and not after.done:  # handed back by the telephony (an operator missed it)
            self.calls_in_menu.labels(channel).inc()
        old = before.context.path if before is not None else ()
        new = ctx.path
        for i in range(max(len(old) - 1, 0), len(new)):
            self._step(menu, menu_name, old[i] if i < len(old) else None, new[i])
        if after.done and (before is None or not before.done):
            self.calls_in_menu.labels(channel).dec()
            outcome = ctx.outcome if ctx.outcome in OUTCOMES else ("none" if not ctx.outcome else OTHER)
            self.calls_ended.labels(channel, outcome).inc()

    def _step(self, menu: Menu, menu_name: str, prev: Step | None, step: Step) -> None:
        node = step.node if step.node in menu.nodes and menu_name != OTHER else OTHER
        if prev is None:
            self.node_entries.labels(menu_name, node).inc()
        for failure in step.failures[len(prev.failures) if prev is not None else 0:]:
            self._failure(menu_name, node, failure)
        if step.exit is not None and (prev is None or prev.exit is None):
            if step.exit == "hangup":
                self.hangups.labels(menu_name, node).inc()
            elif step.exit == "fallback":
                self.fallbacks.labels(menu_name, node).inc()

    def _failure(self, menu: str, node: str, failure: str) -> None:
        if failure == "timeout":
            self.node_timeouts.labels(menu, node).inc()
        elif failure.startswith("key:") or failure in NO_MATCH:
            self.node_no_match.labels(menu, node).inc()
        elif failure == "corrected":
            self.corrections.labels(menu, node).inc()
        else:
            reason = failure.removeprefix("callback_number:")
            self.validation_failures.labels(menu, node, reason if reason in REASONS else OTHER).inc()

    # -- front ends ---------------------------------------------------------------------------
    def agi_call_ended(self, result: SessionResult) -> None:
        self.agi_sessions.labels(self._agi_kind(result.ended_by or "none")).inc()
        if result.ended_by == "error":
            kind = result.error.split(":", 1)[0].strip() or "unknown"
            self.agi_errors.labels(self._agi_kind(kind)).inc()

    def webhook_error(self, kind: str) -> None:
        self.webhook_errors.labels(self._webhook_kind(kind)).inc()

    def recognised(self, result: Recognition) -> None:
        status = result.status if result.status in ("heard", "nothing", "off", "busy", "timeout") else OTHER
        self.recognition.labels(status).observe(result.elapsed)

    # -- background work ------------------------------------------------------------------
    def purged(self, report: PurgeReport) -> None:
        if not report.dry_run:
            self.recordings_purged.inc(len(report.deleted) + len(report.resumed))

    def routing_event(self, fields: Mapping[str, str]) -> None:
        """One entry of the routing event stream (see ``routing/scripts``)."""
        kind = fields.get("type", "")
        queue = self._queue(fields.get("queue"))
        self.routing_events_read.inc()
        if kind == "enqueued":
            self.enqueued.labels(queue).inc()
        elif kind == "assigned":
            self.assignments.labels(queue, _call_kind(fields)).inc()
        elif kind == "answered":
            call_kind = _call_kind(fields)
            self.answered.labels(queue, call_kind).inc()
            if call_kind == "callback":
                self.callbacks.labels(queue, "answered").inc()
            else:
                try:
                    self.answer_wait.labels(queue).observe(max(0.0, float(fields.get("wait", "0"))))
                except ValueError:
                    pass
        elif kind == "abandoned":
            self.abandoned.labels(queue).inc()
        elif kind == "overflowed":
            self.overflowed.labels(queue).inc()
        elif kind == "reservation_expired":
            self.reservations_expired.inc()
        elif kind in CALLBACK_EVENTS:
            self.callbacks.labels(queue, CALLBACK_EVENTS[kind]).inc()


def _call_kind(fields: Mapping[str, str]) -> str:
    return "callback" if fields.get("kind") == "callback" else "call"
