"""Place in line, aging and expected waits: the arithmetic, without Redis.

Place score
-----------
A waiting call's effective priority grows with its wait::

    effective = base + aging_per_minute * waited_seconds / 60

Comparing two calls at any moment ``now``, ``now`` cancels out, so the order never
changes while both wait, and one static sorted-set score gives it (lower = earlier)::

    score = enqueued_at - base * 60 / aging_per_minute      (aging > 0)
    score = enqueued_at - base * PRIORITY_STEP             (aging == 0: strict priority)

i.e. one priority point is worth ``60 / aging`` seconds of waiting (300 s at the
default 0.2 a minute).  Ties go to the earlier call.  Urgent queues (special-case
topics) subtract ``URGENT_BAND``, ahead of every non-urgent score.  A callback keeps
the score of the call it came from: that is what "keeps its place" means.

Expected wait
-------------
By the skills a call needs, not a queue-wide average: ``position * handle / staffed``
where ``position`` counts the entries (calls and pending callbacks) of the same
language that need any of the same skills and stand ahead, ``handle`` is the longest
moving-average handle time (talk + wrap-up) of its skills, and ``staffed`` is the
smallest number of staffed operators (available, reserved, on call, wrap-up) having
one of its skills in its language.  Computed in ``scripts/lib.lua`` (``placement``).
With no such operator on duty there is no estimate (``None``): nothing a caller could
be told would be true.
"""

from __future__ import annotations

from collections.abc import Sequence

from ivr.config.schema import CallbackRule, QueueConfig, Widening

PRIORITY_STEP = 1e7
URGENT_BAND = 1e10


def base_priority(queue: QueueConfig, call_priority: int, repeat_boost: int) -> int:
    return queue.priority + call_priority + repeat_boost


def place_score(enqueued_at: float, base: float, *, urgent: bool, aging_per_minute: float) -> float:
    credit = base * 60.0 / aging_per_minute if aging_per_minute > 0 else base * PRIORITY_STEP
    return enqueued_at - credit - (URGENT_BAND if urgent else 0.0)


def effective_priority(base: float, waited: float, aging_per_minute: float) -> float:
    return base + aging_per_minute * max(waited, 0.0) / 60.0


def required_proficiency(widening: Sequence[Widening], waited: float) -> int:
    """The proficiency a call needs after ``waited`` seconds (6: nobody yet)."""
    if not widening:
        return 1
    steps = [w.proficiency for w in widening if waited >= w.after]
    return min(steps) if steps else 6


def offer_callback(rule: CallbackRule, expected_wait: float | None) -> bool:
    """``expected_wait`` None (nobody on duty): the wait is unbounded, so over any threshold."""
    if rule.offer == "always":
        return True
    if rule.offer == "never":
        return False
    return expected_wait is None or expected_wait > rule.wait_over


def class_of(queue: str, language: str, skills: Sequence[str]) -> str:
    """The matching class: calls of one class need the same operators."""
    return f"{queue}|{language}|{','.join(sorted(skills))}"


def queue_expected_wait(waiting: int, handle_seconds: float, staffed: int) -> float | None:
    """What a call arriving now would be told: it stands behind everyone waiting.  None
    with nobody on duty (``staffed`` 0): as for a call, no estimate would be true."""
    if staffed <= 0:
        return None
    return (waiting + 1) * handle_seconds / staffed
