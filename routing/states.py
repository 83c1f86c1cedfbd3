"""Every way a call or an operator changes state, in one place.

The Lua scripts in ``scripts/`` perform the changes atomically; they take the
allowed "from" states from here, so this table is the one to read and to change.

Calls::

    (new) --enqueue--> waiting --match--> reserved --connected--> connected --ended--> gone
    waiting --request_callback--> callback --match--> reserved (kind callback)
    reserved --reservation expires--> waiting / callback   (same place in line)
    reserved(callback) --callback_result(no answer)--> callback (retry later) | gone (failed)
    reserved(callback) --callback_result(answered)--> connected
    waiting / reserved --abandon--> abandoned
    waiting --max_wait passed, queue has an overflow--> overflowed --enqueue(new queue)--> waiting

Operators::

    offline / break / available / wrap_up  <--console-->  (each other; see OPERATOR_CONSOLE)
    available --match--> reserved --connected--> on_call --ended--> wrap_up --timeout--> available
    reserved / on_call --console asks (AFTER_CALL)--> the same, the request kept on the
        operator; then wrap_up --timeout--> the state asked for, not available (no wrap-up:
        at once), and a reservation that ends without a conversation ends in it too
    reserved --abandon / expiry / callback not answered--> available (front of the idle order)
"""

from __future__ import annotations

from collections.abc import Mapping

from routing.model import OperatorState

#: States the operator console may set, and the states each may be set from.
#: ``reserved`` and ``on_call`` are set only by call events.
OPERATOR_CONSOLE: Mapping[OperatorState, frozenset[OperatorState]] = {
    "offline": frozenset({"offline", "available", "break", "wrap_up"}),
    "available": frozenset({"offline", "available", "break", "wrap_up"}),
    "break": frozenset({"offline", "available", "break", "wrap_up"}),
    "wrap_up": frozenset({"wrap_up"}),
}

#: States the console may ask for during a conversation, and the states it may ask from:
#: taken when the call's wrap-up ends, instead of available.  A state the console sets
#: meanwhile replaces the request; the console may withdraw it.
AFTER_CALL: Mapping[OperatorState, frozenset[OperatorState]] = {
    "offline": frozenset({"reserved", "on_call"}),
}

#: Operator states in which an operator counts as staffed (takes or will take calls).
STAFFED: frozenset[OperatorState] = frozenset({"available", "reserved", "on_call", "wrap_up"})

OPERATOR_STATES: tuple[OperatorState, ...] = (
    "offline",
    "available",
    "reserved",
    "on_call",
    "wrap_up",
    "break",
)

#: Call events and the call states they may start from (the scripts enforce them).
CALL_EVENTS: Mapping[str, frozenset[str]] = {
    "connected": frozenset({"reserved"}),
    "ended": frozenset({"connected"}),
    "abandon": frozenset({"waiting", "reserved"}),
    "request_callback": frozenset({"waiting"}),
    "callback_result": frozenset({"reserved"}),
}
