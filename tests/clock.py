"""The tests' clock: injected wherever production code reads the time, moved by hand."""

from __future__ import annotations


class ManualClock:
    """Stands still until a test moves it.  A suite names its own starting time:
    ``class Clock(ManualClock): start = T0``."""

    start: float = 0.0

    def __init__(self, now: float | None = None) -> None:
        self.now = self.start if now is None else now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> float:
        """Move on ``seconds``; returns the new time."""
        self.now += seconds
        return self.now
