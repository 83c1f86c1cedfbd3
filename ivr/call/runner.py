"""One call's driver: feeds events to the flow engine, runs the service actions.

A front end (FastAGI, Twilio webhooks, the scenario runner) owns one
:class:`CallRunner` per call.  It sends what the caller did as events and gets
back only the media actions it must carry out; the service actions (enqueue,
poll the queue, look up an appeal, book a callback) are answered here, in the
same step, through :class:`~ivr.call.services.CallServices`.

An optional ``observer`` sees every step (the state before and after): the engine's
metrics count node entries, failures and hang-ups from it.  Each step runs in the
call's log scope (:func:`ivr.ops.context.call_scope`), so every line logged on the
way carries the call id, and what the caller said or typed is masked in them.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Protocol

from ivr.call.services import CallServices
from ivr.flow import actions as a
from ivr.flow import events as e
from ivr.flow.engine import CallState, start, step
from ivr.menu.model import Menu
from ivr.ops.context import call_scope, remember_personal

log = logging.getLogger(__name__)
MAX_SERVICE_ROUNDS = 16  # service answers chained within one caller event


class CallObserver(Protocol):
    def observe(self, menu: Menu, before: CallState | None, after: CallState) -> None:
        """One step of a call happened (``before`` is None for the start)."""


class CallRunner:
    def __init__(
        self,
        *,
        menu: Menu,
        services: CallServices,
        clock: Callable[[], float],
        observer: CallObserver | None = None,
    ) -> None:
        self.menu = menu
        self.services = services
        self.clock = clock
        self.observer = observer
        self.state: CallState | None = None
        self._ended = False

    @classmethod
    def resume(
        cls,
        *,
        menu: Menu,
        services: CallServices,
        clock: Callable[[], float],
        state: CallState,
        observer: CallObserver | None = None,
    ) -> CallRunner:
        """A runner for a call whose state was kept between requests (Twilio)."""
        runner = cls(menu=menu, services=services, clock=clock, observer=observer)
        runner.state = state
        return runner

    @property
    def done(self) -> bool:
        return self.state is not None and self.state.done

    def start(self, event: e.CallStarted) -> list[a.MediaAction]:
        with call_scope(event.call_id):
            state, actions = start(self.menu, event)
            return self._observed(None, state, actions)

    def handle(self, event: e.Event) -> list[a.MediaAction]:
        if self.state is None:
            raise RuntimeError("the call has not started")
        with call_scope(self.state.context.call_id):
            if self.state.context.name is not None:
                remember_personal(self.state.context.name.text)
            if isinstance(event, e.SpeechHeard):
                remember_personal(event.text)
            elif isinstance(event, e.DigitsEntered):
                remember_personal(event.digits)
            before = self.state
            log.debug("%s at %s", event, before.node)
            state, actions = step(self.menu, before, event)
            return self._observed(before, state, actions)

    def _observed(
        self, before: CallState | None, state: CallState, actions: tuple[a.Action, ...]
    ) -> list[a.MediaAction]:
        try:
            return self._run(state, actions)
        finally:  # a service that failed midway still moved the call: count what happened
            if self.observer is not None and self.state is not None:
                try:
                    self.observer.observe(self.menu, before, self.state)
                except Exception:  # counting must never break a call
                    log.exception("call observer failed")

    def _run(self, state: CallState, actions: tuple[a.Action, ...]) -> list[a.MediaAction]:
        media: list[a.MediaAction] = []
        for _ in range(MAX_SERVICE_ROUNDS):
            self.state = state
            answer: e.Event | None = None
            for action in actions:
                if isinstance(action, (a.Enqueue, a.PollQueue, a.LeaveQueue, a.LookupAppeal, a.BookCallback)):
                    answer = self._serve(action)
                else:
                    media.append(action)
            if answer is None:
                break
            state, actions = step(self.menu, state, answer)
        self.state = state
        if state.done and not self._ended:
            self._ended = True
            self.services.call_ended(state.context, self.clock())
        return media

    def _serve(self, action: a.ServiceAction) -> e.Event | None:
        assert self.state is not None
        ctx, now = self.state.context, self.clock()
        if isinstance(action, a.Enqueue):
            return self.services.enqueue(ctx, action, now)
        if isinstance(action, a.PollQueue):
            return self.services.poll(ctx, now)
        if isinstance(action, a.LeaveQueue):
            self.services.leave_queue(ctx, now)
            return None
        if isinstance(action, a.LookupAppeal):
            return self.services.lookup_appeal(action.number, now)
        return self.services.book_callback(ctx, action.number, now)
