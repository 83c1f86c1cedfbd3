"""One call's driver: feeds events to the flow engine, runs the service actions.

A front end (FastAGI, Twilio webhooks, the scenario runner) owns one
:class:`CallRunner` per call.  It sends what the caller did as events and gets
back only the media actions it must carry out; the service actions (enqueue,
poll the queue, look up an appeal, book a callback) are answered here, in the
same step, through :class:`~ivr.call.services.CallServices`.
"""

from __future__ import annotations

from collections.abc import Callable

from ivr.call.services import CallServices
from ivr.flow import actions as a
from ivr.flow import events as e
from ivr.flow.engine import CallState, start, step
from ivr.menu.model import Menu

MAX_SERVICE_ROUNDS = 16  # service answers chained within one caller event


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
        state, actions = start(self.menu, event)
        return self._run(state, actions)

    def handle(self, event: e.Event) -> list[a.MediaAction]:
        if self.state is None:
            raise RuntimeError("the call has not started")
        state, actions = step(self.menu, self.state, event)
        return self._run(state, actions)

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
