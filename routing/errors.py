"""One exception tree for routing; every error carries the data it is about."""

from __future__ import annotations

from typing import Any


class RoutingError(Exception):
    """Base of every routing error.  ``details`` is safe to show in logs and JSON."""

    error_id = "routing_error"

    def __init__(self, message: str, **details: Any) -> None:
        super().__init__(message)
        self.message = message
        self.details = details


class UnknownQueue(RoutingError):
    error_id = "unknown_queue"

    def __init__(self, queue: str) -> None:
        super().__init__(f"no such queue: {queue!r}", queue=queue)


class UnknownCall(RoutingError):
    error_id = "unknown_call"

    def __init__(self, call_id: str) -> None:
        super().__init__(f"no such call: {call_id!r}", call_id=call_id)


class UnknownOperator(RoutingError):
    error_id = "unknown_operator"

    def __init__(self, operator_id: str) -> None:
        super().__init__(f"no such operator: {operator_id!r}", operator_id=operator_id)


class UnknownCallback(RoutingError):
    error_id = "unknown_callback"

    def __init__(self, callback_id: str) -> None:
        super().__init__(f"no such callback: {callback_id!r}", callback_id=callback_id)


def mask_number(number: str) -> str:
    """``+79161234567`` -> ``+7********67``: enough to recognise, not to dial."""
    digits = [i for i, ch in enumerate(number) if ch.isdigit()]
    keep = set(digits[:1] + digits[-2:])
    return "".join(ch if (i in keep or not ch.isdigit()) else "*" for i, ch in enumerate(number))


class CallbackExists(RoutingError):
    """A number may have one pending callback; the message masks the number."""

    error_id = "callback_exists"

    def __init__(self, number: str, callback_id: str) -> None:
        masked = mask_number(number)
        super().__init__(
            f"a callback to {masked} is already pending ({callback_id})",
            number=masked,
            callback_id=callback_id,
        )


class InvalidTransition(RoutingError):
    """The call or operator is not in a state that allows this change."""

    error_id = "invalid_transition"

    def __init__(self, what: str, ident: str, current: str, wanted: str) -> None:
        super().__init__(
            f"{what} {ident!r} is {current}: cannot go to {wanted}",
            what=what,
            id=ident,
            current=current,
            wanted=wanted,
        )


class InvalidAppeal(RoutingError):
    error_id = "invalid_appeal"


class TransferRefused(RoutingError):
    """A transfer routing cannot make now; ``why`` names it: ``closed`` (the queue is
    closed now), ``unknown_queue``, ``unknown_operator``, ``operator_not_ready``,
    ``same_operator``, ``no_operator`` (a consultation: nobody free in that queue),
    ``not_yours`` (the call is another operator's), ``consulting`` (a consultation is under
    way), ``no_consultation``.  Nothing changed."""

    error_id = "transfer_refused"

    def __init__(self, call_id: str, why: str) -> None:
        super().__init__(f"call {call_id!r}: transfer refused: {why}", call_id=call_id, why=why)
        self.why = why
