"""One call's driver: feeds events to the flow engine, runs the service actions.

A front end (FastAGI, Twilio webhooks, the scenario runner) owns one
:class:`CallRunner` per call.  It sends what the caller did as events and gets
back only the media actions it must carry out; the service actions (enqueue,
poll the queue, look up an appeal, book a callback) are answered here, in the
same step, through :class:`~ivr.call.services.CallServices`.

:meth:`CallRunner.start` and :meth:`CallRunner.handle` call the services where they
stand.  A front end on an event loop, which must not wait on Redis, drives
:meth:`CallRunner.start_steps` / :meth:`CallRunner.handle_steps` instead: the same
step as a generator that yields each service call (a function of no arguments) and
is sent its answer, so only the service calls leave the loop, never the engine step.

An optional ``observer`` sees every step (the state before and after): the engine's
metrics count node entries, failures and hang-ups from it.  The runner's log scope
(:mod:`ivr.ops.context`: the call id on every line, what the caller said or typed
masked) is bound around each piece of work and never across a ``yield``, so calls
sharing one event loop never see each other's scope.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Generator
from functools import partial
from typing import Protocol, TypeVar

from ivr.call.services import CallServices
from ivr.flow import actions as a
from ivr.flow import events as e
from ivr.flow.engine import CallState, start, step
from ivr.menu.model import Menu
from ivr.ops.context import CallScope, remember_personal, within

log = logging.getLogger(__name__)
MAX_SERVICE_ROUNDS = 16  # service answers chained within one caller event
T = TypeVar("T")

# A service call, ready to run where the front end likes (inline, or a thread pool).
ServiceCall = Callable[[], "e.Event | None"]
# yields service calls, is sent their answers, returns the media actions
Steps = Generator[ServiceCall, "e.Event | None", list[a.MediaAction]]


def run_steps(steps: Steps) -> list[a.MediaAction]:
    """Drive :data:`Steps` here and now: each service call runs in the caller's thread."""
    answer: e.Event | None = None
    try:
        while True:
            answer = steps.send(answer)()
    except StopIteration as done:
        media: list[a.MediaAction] = done.value
        return media


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
        self._scope: CallScope | None = None

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
        runner._ended = state.done  # a finished call was reported then; back in line, not again
        runner._scope = CallScope(state.context.call_id)
        if state.context.name is not None:
            runner._in_scope(lambda: remember_personal(state.context.name.text if state.context.name else None))
        return runner

    @property
    def done(self) -> bool:
        return self.state is not None and self.state.done

    def start(self, event: e.CallStarted) -> list[a.MediaAction]:
        return run_steps(self.start_steps(event))

    def handle(self, event: e.Event) -> list[a.MediaAction]:
        return run_steps(self.handle_steps(event))

    def start_steps(self, event: e.CallStarted) -> Steps:
        self._scope = CallScope(event.call_id)
        state, actions = self._in_scope(lambda: start(self.menu, event))
        return self._observed(None, state, actions)

    def handle_steps(self, event: e.Event) -> Steps:
        if self.state is None:
            raise RuntimeError("the call has not started")
        before = self.state

        def apply() -> tuple[CallState, tuple[a.Action, ...]]:
            if isinstance(event, e.SpeechHeard):
                remember_personal(event.text)
            elif isinstance(event, e.DigitsEntered):
                remember_personal(event.digits)
            log.debug("%s at %s", event, before.node)
            return step(self.menu, before, event)

        state, actions = self._in_scope(apply)
        if before.done and not state.done:
            # Back in line (its operator missed it, or transferred it to a queue): the call's end
            # was reported when it was put through; it is reported again at its real end (the
            # call log counts only the difference, the recordings' end work is idempotent).
            self._ended = False
        return self._observed(before, state, actions)

    def _in_scope(self, work: Callable[[], T]) -> T:
        with within(self._scope):
            return work()

    def _observed(self, before: CallState | None, state: CallState, actions: tuple[a.Action, ...]) -> Steps:
        try:
            return (yield from self._run(state, actions))
        finally:  # a service that failed midway still moved the call: count what happened
            if self.observer is not None and self.state is not None:
                observer, after = self.observer, self.state
                try:
                    self._in_scope(lambda: observer.observe(self.menu, before, after))
                except Exception:
                    log.exception("call observer failed")

    def _run(self, state: CallState, actions: tuple[a.Action, ...]) -> Steps:
        media: list[a.MediaAction] = []
        for _ in range(MAX_SERVICE_ROUNDS):
            self.state = state
            answer: e.Event | None = None
            for action in actions:
                if isinstance(action, (a.Enqueue, a.PollQueue, a.LeaveQueue, a.LookupAppeal, a.BookCallback)):
                    answer = yield self._scoped_service(action)
                else:
                    media.append(action)
            if answer is None:
                break
            state, actions = self._in_scope(partial(step, self.menu, state, answer))
        self.state = state
        if state.done and not self._ended:
            self._ended = True
            ended = state.context
            yield lambda: self._in_scope(lambda: self.services.call_ended(ended, self.clock()))
        return media

    def _scoped_service(self, action: a.ServiceAction) -> ServiceCall:
        """The service call for ``action``, carrying the call's log scope to any thread."""
        return lambda: self._in_scope(lambda: self._serve(action))

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
            return self.services.lookup_appeal(ctx, action.number, now)
        return self.services.book_callback(ctx, action.number, now)
