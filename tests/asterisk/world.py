"""A scripted world for FastAGI tests: CallServices answering as the routing engine would."""

from __future__ import annotations

import itertools
import threading
from dataclasses import dataclass, field
from pathlib import Path

from ivr.config import load_config
from ivr.flow import actions as a
from ivr.flow import events as e
from ivr.flow.context import CallContext
from ivr.menu import load_menu
from ivr.menu.model import Menu

ROOT = Path(__file__).resolve().parents[2]


def hotline_menu() -> Menu:
    config = load_config(ROOT / "config.yaml")
    return load_menu(ROOT / "dialplans" / "hotline.yaml", queues=config.queues, calendar=config.calendar)


@dataclass
class World:
    """Enqueue answers position 3; an operator is reserved after ``polls_until_operator`` polls."""

    position: int = 3
    expected_wait: float = 240.0
    offer_callback: bool = True
    polls_until_operator: int | None = None
    operator: str = "op101"
    endpoint: str = "PJSIP/op101"
    lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        self._appeals = itertools.count(1)
        self.queued: dict[str, int] = {}  # call id -> polls so far (only calls still queued)
        self.left: list[str] = []
        self.callbacks: list[tuple[str, str]] = []
        self.ended: dict[str, CallContext] = {}

    def allocate_appeal(self) -> str:
        with self.lock:
            return f"{2026000000 + next(self._appeals)}"

    def enqueue(self, ctx: CallContext, action: a.Enqueue, at: float) -> e.Queued:
        with self.lock:
            self.queued[ctx.call_id] = 0
        return e.Queued(self.position, self.expected_wait, self.offer_callback, at)

    def poll(self, ctx: CallContext, at: float) -> e.QueueUpdate:
        with self.lock:
            polls = self.queued.get(ctx.call_id, 0) + 1
            self.queued[ctx.call_id] = polls
            if self.polls_until_operator is not None and polls >= self.polls_until_operator:
                del self.queued[ctx.call_id]
                return e.QueueUpdate(1, 0, at, operator=self.operator, endpoint=self.endpoint)
        return e.QueueUpdate(self.position, self.expected_wait, at)

    def leave_queue(self, ctx: CallContext, at: float) -> None:
        with self.lock:
            self.queued.pop(ctx.call_id, None)
            self.left.append(ctx.call_id)

    def lookup_appeal(self, ctx: CallContext, number: str, at: float) -> e.AppealLooked:
        return e.AppealLooked(number, "in_progress", at)

    def book_callback(self, ctx: CallContext, number: str, at: float) -> e.CallbackBooked:
        with self.lock:
            self.queued.pop(ctx.call_id, None)
            self.callbacks.append((ctx.call_id, number))
        return e.CallbackBooked(True, at)

    def call_ended(self, ctx: CallContext, at: float) -> None:
        with self.lock:
            self.ended[ctx.call_id] = ctx
