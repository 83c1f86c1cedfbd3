"""A fast ``dataclasses.replace`` for the engine's own frozen values.

``dataclasses.replace`` re-runs ``__init__`` and walks every field; the engine
makes several small changes per event, so it copies the instance dictionary
instead.  Only for dataclasses without ``__post_init__`` or slots (ours).
"""

from __future__ import annotations

from typing import Any, TypeVar

T = TypeVar("T")


def evolve(value: T, **changes: Any) -> T:
    """A copy of the frozen dataclass ``value`` with ``changes`` applied."""
    copy = object.__new__(type(value))
    copy.__dict__.update(value.__dict__)
    copy.__dict__.update(changes)
    return copy
