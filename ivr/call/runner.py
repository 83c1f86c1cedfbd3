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
"""

from __future__ import annotations

from collections.abc import Callable, Generator
from functools import partial

from ivr.call.services import CallServices
from ivr.flow import actions as a
from ivr.flow import events as e
from ivr.flow.engine import CallState, start, step
from ivr.menu.model import Menu

MAX_SERVICE_ROUNDS = 16  # service answers chained within one caller event

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


class CallRunner:
    def __init__(self, *, menu: Menu, services: CallServices, clock: Callable[[], float]) -> None:
        self.menu = menu
        self.services = services
        self.clock = clock
        self.state: CallState | None = None
        self._ended = False

    @classmethod
    def resume(
        cls, *, menu: Menu, services: CallServices, clock: Callable[[], float], state: CallState
    ) -> CallRunner:
        """A runner for a call whose state was kept between requests (Twilio)."""
        runner = cls(menu=menu, services=services, clock=clock)
        runner.state = state
        return runner

    @property
    def done(self) -> bool:
        return self.state is not None and self.state.done

    def start(self, event: e.CallStarted) -> list[a.MediaAction]:
        return run_steps(self.start_steps(event))

    def handle(self, event: e.Event) -> list[a.MediaAction]:
        return run_steps(self.handle_steps(event))

    def start_steps(self, event: e.CallStarted) -> Steps:
        state, actions = start(self.menu, event)
        return self._run(state, actions)

    def handle_steps(self, event: e.Event) -> Steps:
        if self.state is None:
            raise RuntimeError("the call has not started")
        state, actions = step(self.menu, self.state, event)
        return self._run(state, actions)

    def _run(self, state: CallState, actions: tuple[a.Action, ...]) -> Steps:
        media: list[a.MediaAction] = []
        for _ in range(MAX_SERVICE_ROUNDS):
            self.state = state
            answer: e.Event | None = None
            for action in actions:
                if isinstance(action, (a.Enqueue, a.PollQueue, a.LeaveQueue, a.LookupAppeal, a.BookCallback)):
                    answer = yield partial(self._serve, action)
                else:
                    media.append(action)
            if answer is None:
                break
            state, actions = step(self.menu, state, answer)
        self.state = state
        if state.done and not self._ended:
            self._ended = True
            yield partial(self._call_ended, state)
        return media

    def _call_ended(self, state: CallState) -> None:
        self.services.call_ended(state.context, self.clock())

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
