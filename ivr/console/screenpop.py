"""The screen-pop: what the operator sees of a routed call, built from what the menu collected.

Built from :attr:`routing.model.Assignment.context` (the call's
:class:`~ivr.flow.context.CallContext`) plus the appeal book: ФИО as recognised (with its
confidence and whether the caller's own clip can be played), ИНН and СНИЛС masked (the full
value only through the audited "show"), topic, language, the path through the menu with
times and failed attempts, time waited, live call or callback, consent to record, and the
caller's earlier appeals with their statuses.  Nothing here reads a request or writes.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any

from ivr.call.routed import identity_keys
from ivr.config.schema import QueueConfig
from ivr.console.texts import TEXTS
from ivr.flow.context import CallContext
from ivr.identity import mask_inn, mask_phone, mask_snils
from routing.appeals import STATUS_NAMES, Appeal, AppealBook
from routing.engine import Router
from routing.model import Assignment

#: Topic names in Russian (the pop's ``topic_label``); the page shows them in its own
#: language from the catalogue's ``topic.<id>``.
TOPIC_NAMES: dict[str, str] = {key.removeprefix("topic."): str(entry["ru"])
                               for key, entry in TEXTS.items() if key.startswith("topic.")}
LANGUAGES = {"ru": "русский", "en": "английский"}
PREVIOUS_SHOWN = 10


def topic_label(topic: str | None) -> str:
    if not topic:
        return "не выбрана"
    return TOPIC_NAMES.get(topic, topic)


def _masked(value: str | None, mask: Callable[[str], str]) -> str | None:
    if not value:
        return None
    try:
        return mask(value)
    except Exception:  # noqa: BLE001 - never show an unmaskable value in full
        return "***"


def appeal_row(appeal: Appeal) -> dict[str, Any]:
    return {"number": appeal.number, "topic": appeal.topic, "topic_label": topic_label(appeal.topic),
            "status": appeal.status, "status_name": STATUS_NAMES.get(appeal.status, appeal.status),
            "opened_at": appeal.opened_at, "updated_at": appeal.updated_at, "resolved": appeal.resolved}


def path_rows(ctx: CallContext, labels: Mapping[str, Mapping[str, str]] | None = None) -> list[dict[str, Any]]:
    """The call's way through the menu; ``label``: each node's name per language (the menu's
    ``labels:``), so the page shows names, not node ids."""
    rows = []
    for step in ctx.path:
        rows.append({
            "node": step.node,
            "label": dict((labels or {}).get(step.node, {})),
            "at": round(step.entered - ctx.started, 1),
            "seconds": None if step.left is None else round(step.left - step.entered, 1),
            "exit": step.exit,
            "detail": step.detail if sum(ch.isdigit() for ch in step.detail) < 3 else "",
            "attempts": step.attempts,
            "failures": list(step.failures),
        })
    return rows


def build_pop(
    assignment: Assignment,
    ctx: CallContext,
    *,
    enqueued_at: float | None,
    previous: list[Appeal],
    repeat_since: float,
    queue_name: str,
    clips_kept: bool = True,
    clip_there: bool = True,
    labels: Mapping[str, Mapping[str, str]] | None = None,
) -> dict[str, Any]:
    """The screen-pop as JSON-able data; personal data masked.

    ``clips_kept``: the engine has a recording key, so the caller's spoken name is kept
    (encrypted) for the operator to play; without one it is destroyed at the call's end
    and the pop says ``name.clip_note = "no_key"`` ("clip not kept: no recording key").
    ``clip_there``: the clip the menu noted exists (its file, or its stored recording): a
    play button for nothing to play is not shown (a softphone's caller records no file).
    """
    name = ctx.name
    consent = ctx.consent
    waited_from = enqueued_at if enqueued_at is not None else (ctx.path[-1].entered if ctx.path else ctx.started)
    others = [a for a in previous if a.number != ctx.appeal]
    return {
        "call_id": assignment.call_id,
        "kind": assignment.kind,
        "operator": assignment.operator_id,
        "queue": assignment.queue,
        "queue_name": queue_name,
        "reserved_at": assignment.reserved_at,
        "appeal": ctx.appeal,
        "caller": _masked(ctx.caller, mask_phone),
        "callback_number": _masked(assignment.number or ctx.callback_number, mask_phone)
        if assignment.kind == "callback" else None,
        "name": {
            "text": name.text if name else None,
            "confidence": round(name.confidence, 2) if name and name.recognised else None,
            "recognised": name.recognised if name else None,
            "clip": bool(name and name.clip) and clips_kept and clip_there,
            "clip_note": "no_key" if name and name.clip and not clips_kept else None,
        },
        "inn": _masked(ctx.inn, mask_inn),
        "snils": _masked(ctx.snils, mask_snils),
        "identity_confirmed": ctx.identity_confirmed,
        "topic": ctx.topic,
        "topic_label": topic_label(ctx.topic),
        "language": ctx.language,
        "language_label": LANGUAGES.get(ctx.language, ctx.language),
        "waited": round(max(0.0, assignment.reserved_at - waited_from), 1),
        "in_menu": round(max(0.0, waited_from - ctx.started), 1),
        "path": path_rows(ctx, labels),
        "consent": None if consent is None else {
            "granted": consent.granted, "method": consent.method, "heard": consent.heard},
        "recording": ctx.recording.state if ctx.recording else None,
        "repeat": any(not a.resolved and a.opened_at >= repeat_since for a in others),
        "previous": [appeal_row(a) for a in others[:PREVIOUS_SHOWN]],
        "menu_version": ctx.menu_version,
        "channel": ctx.channel,
    }


class ScreenPops:
    """Builds pops from the routing engine and the appeal book."""

    def __init__(self, *, router: Router, appeals: AppealBook, queues: Mapping[str, QueueConfig],
                 repeat_window_days: int, clock: Callable[[], float], clips_kept: bool = True,
                 labels: Callable[[CallContext], Mapping[str, Mapping[str, str]]] | None = None,
                 clip_there: Callable[[str, str], bool] | None = None) -> None:
        self.labels = labels  # the node labels of the menu a call ran
        self.clips_kept = clips_kept  # the engine has a recording key (the spoken name is kept)
        self.clip_there = clip_there  # (call id, clip) -> its file or stored recording exists
        self.router = router
        self.appeals = appeals
        self.queues = queues
        self.repeat_window_days = repeat_window_days
        self.clock = clock

    def active(self, call_id: str) -> Assignment | None:
        """The call's assignment while it is reserved for or connected to an operator."""
        if not call_id or len(call_id) > 128:
            return None
        status = self.router.status(call_id)
        if status.state in ("reserved", "connected") and status.assignment is not None:
            return status.assignment
        return None

    def previous_appeals(self, ctx: CallContext) -> list[Appeal]:
        """The caller's appeals found by ИНН, СНИЛС or number, newest first (two round trips)."""
        redis, keys = self.appeals.redis, self.appeals.keys
        pipe = redis.pipeline(transaction=False)
        for ident in identity_keys(ctx, self.appeals.identity):
            pipe.zrevrangebyscore(keys.appeals_of(ident), "+inf", "-inf", start=0,
                                  num=PREVIOUS_SHOWN + 1, withscores=True)
        numbers: dict[str, float] = {}
        for found in pipe.execute():
            for number, score in found:
                key = _text(number)
                numbers[key] = max(float(score), numbers.get(key, 0.0))
        ordered = sorted(numbers, key=lambda n: numbers[n], reverse=True)[: PREVIOUS_SHOWN + 1]
        if not ordered:
            return []
        pipe = redis.pipeline(transaction=False)
        for number in ordered:
            pipe.hgetall(keys.appeal(number))
        return [appeal_from_hash(raw) for raw in pipe.execute() if raw]

    def enqueued_at(self, call_id: str) -> float | None:
        raw = self.router.redis.hget(self.router.keys.call(call_id), "enq")
        try:
            return float(raw) if raw else None
        except ValueError:
            return None

    def name_playable(self, assignment: Assignment) -> bool:
        """Whether the caller's spoken name can be played now: its clip's file, or the
        recording the call's end (or Twilio's recording callback) stored."""
        ctx = context_of(assignment)
        clip = ctx.name.clip if ctx.name is not None else None
        return bool(clip and (self.clip_there is None or self.clip_there(assignment.call_id, clip)))

    def pop(self, assignment: Assignment) -> dict[str, Any]:
        ctx = context_of(assignment)
        queue = self.queues.get(assignment.queue)
        return build_pop(
            assignment, ctx,
            enqueued_at=self.enqueued_at(assignment.call_id),
            previous=self.previous_appeals(ctx),
            repeat_since=self.clock() - self.repeat_window_days * 86400,
            queue_name=(queue.name or assignment.queue) if queue else assignment.queue,
            clips_kept=self.clips_kept,
            clip_there=self.name_playable(assignment),
            labels=self.labels(ctx) if self.labels is not None else None,
        ) | {"transfers": self.router.transfers(assignment.call_id)}  # who passed it on, when, the note


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def appeal_from_hash(raw: Mapping[Any, Any]) -> Appeal:
    """An appeal from its Redis hash (the fields :class:`routing.appeals.AppealBook` writes)."""
    d = {_text(k): _text(v) for k, v in raw.items()}
    return Appeal(number=d["number"], topic=d["topic"], status=d["status"],
                  opened_at=float(d["opened_at"]), updated_at=float(d["updated_at"]),
                  identity_keys=tuple(json.loads(d.get("identity") or "[]")))


def context_of(assignment: Assignment) -> CallContext:
    raw = dict(assignment.context)
    try:
        return CallContext.from_dict(raw)
    except (TypeError, ValueError, KeyError):
        return CallContext(call_id=assignment.call_id, caller=str(raw.get("caller", "")),
                           dialled="", started=assignment.reserved_at)

