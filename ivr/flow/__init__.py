"""The pure flow engine: events in, actions out."""

from ivr.flow.engine import CallState, Turn, start, step

__all__ = ["CallState", "Turn", "start", "step"]
