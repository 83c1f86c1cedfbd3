"""The call's own log line when the menu is done with it, and observers side by side.

  :class:`CallLogLine` writes one INFO record per finished call (logger ``ivr.calls``):
outcome, channel, seconds, the path as ``node:exit`` and the whole call context in
``extra`` (the masking filter turns it into its masked view), so an on-call engineer
can follow one call from its id without a debugger, and no personal data is written.

:class:`Observers` hands each step to several observers (metrics, this log).
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ivr.call.runner import CallObserver
    from ivr.flow.engine import CallState
    from ivr.menu.model import Menu

log = logging.getLogger("ivr.calls")


class CallLogLine:
    def observe(self, menu: Menu, before: CallState | None, after: CallState) -> None:
        if not after.done or (before is not None and before.done):
            return
        ctx = after.context
        ended = ctx.path[-1].left if ctx.path and ctx.path[-1].left is not None else ctx.started
        path = [f"{step.node}:{step.exit or '-'}" + (f"!{len(step.failures)}" if step.failures else "")
                for step in ctx.path]
        log.info("call %s ended: %s after %.0f s at %s", ctx.call_id, ctx.outcome or "-",
                 max(0.0, ended - ctx.started), ctx.node or "-",
                 extra={"outcome": ctx.outcome, "channel": ctx.channel, "menu": menu.name,
                        "path": path, "context": ctx})


class Observers:
    def __init__(self, *observers: CallObserver) -> None:
        self.observers = observers

    def observe(self, menu: Menu, before: CallState | None, after: CallState) -> None:
        for observer in self.observers:
            observer.observe(menu, before, after)
