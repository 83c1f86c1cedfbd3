"""Every way a call or an operator changes state, written once.

The Lua scripts in ``scripts/`` perform the changes atomically.  They do not spell the
allowed states themselves: :func:`lua_table` renders :data:`MOVES` (and :data:`STAFFED`)
into the Lua code at load (``routing/scripts/__init__.py`` puts it in place of the
``--@STATES@`` line of ``lib.lua``), and each script asks ``may(move, state, kind)``.
Change a move here and the scripts follow; ``tests/routing/test_states.py`` reads the
table back from a live Redis and fails if the two ever differ.

Calls::

    (new) --enqueue--> waiting --match--> reserved --connected--> connected --ended--> gone
    waiting --request_callback--> callback --match--> reserved (kind callback)
    reserved --reservation expires--> waiting / callback   (same place in line)
    reserved --missed (the operator did not answer)--> waiting, at the head of its line;
             the operator --> offline, why "missed"
    reserved(callback) --callback_not_answered--> callback (retry later) | gone (failed)
    reserved(callback) --callback_answered--> connected
    waiting / reserved --abandon--> abandoned
    waiting --max_wait passed, queue has an overflow--> overflowed --enqueue(new queue)--> waiting
    connected --transfer (blind, to a queue)--> waiting, at the head of that queue's line;
             the operator --> wrap_up; the call keeps its context and gains a transfer record
    connected --transfer_to_operator (blind, to a named ready operator)--> reserved for him
    waiting / reserved --transfer_failed (telephony refused)--> connected to the first operator
             again (he --> on_call), or, if he has moved on, waiting at the head of its old line
    connected --consult (warm)--> connected; the next operator reserved for the consultation
    connected --consult_complete--> connected, now to the next operator (on_call); the first
             --> wrap_up
    connected --consult_cancel--> connected; the next operator released (available)

Operators::

    offline / break / available / wrap_up  <--console-->  (each other; see OPERATOR_CONSOLE)
    available --match--> reserved --connected--> on_call --ended--> wrap_up --timeout--> available
    reserved / on_call --console asks (AFTER_CALL)--> the same, the request kept on the
        operator; then wrap_up --timeout--> the state asked for, not available (no wrap-up:
        at once), and a reservation that ends without a conversation ends in it too
    reserved --abandon / expiry / callback not answered--> available (front of the idle order)
    reserved --missed--> offline ("не готов — пропущенный вызов"), until the console sets him
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

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

#: Why an operator is not ready when routing (not the operator) made him so.
MISSED = "missed"


@dataclass(frozen=True)
class Move:
    """A call event: the call states (and kinds) it starts from, where it leads, and the
    states in which it has already happened (a retry is a no-op there, not an error)."""

    to: str
    start: frozenset[str]
    kinds: frozenset[str]
    done: frozenset[str] = frozenset()


_CALL = frozenset({"call"})
_CALLBACK = frozenset({"callback"})

#: Call events by the script that performs them.
MOVES: Mapping[str, Move] = {
    "connected": Move("connected", frozenset({"reserved"}), _CALL, frozenset({"connected"})),
    "ended": Move("gone", frozenset({"connected"}), _CALL | _CALLBACK, frozenset({"gone"})),
    "abandon": Move("abandoned", frozenset({"waiting", "reserved"}), _CALL, frozenset({"abandoned"})),
    "missed": Move("waiting", frozenset({"reserved"}), _CALL, frozenset({"waiting"})),
    "request_callback": Move("callback", frozenset({"waiting"}), _CALL),
    "callback_answered": Move("connected", frozenset({"reserved"}), _CALLBACK, frozenset({"connected"})),
    "callback_not_answered": Move(
        "callback", frozenset({"reserved"}), _CALLBACK, frozenset({"callback", "gone"})
    ),
    # Transfers (issue 18, section 2).  A retry of the same transfer (its id) is a no-op;
    # see scripts/transfer.lua and consult.lua.
    "transfer": Move("waiting", frozenset({"connected"}), _CALL),
    "transfer_to_operator": Move("reserved", frozenset({"connected"}), _CALL),
    "transfer_failed": Move("connected", frozenset({"waiting", "reserved"}), _CALL),
    "consult": Move("connected", frozenset({"connected"}), _CALL),
    "consult_complete": Move("connected", frozenset({"connected"}), _CALL),
    "consult_cancel": Move("connected", frozenset({"connected"}), _CALL),
}

#: Kept for readers of the old name: the "from" states of each call event.
CALL_EVENTS: Mapping[str, frozenset[str]] = {name: m.start for name, m in MOVES.items()}


def _set(items: frozenset[str]) -> str:
    return "{" + ", ".join(f"{x} = true" for x in sorted(items)) + "}"


def lua_table() -> str:
    """:data:`MOVES` and :data:`STAFFED` as Lua (``MOVES``, ``STAFFED``), in a fixed order."""
    lines = [
        "-- Rendered from routing/states.py at load (lua_table); do not edit here.",
        f"local STAFFED = {_set(frozenset(STAFFED))}",
        "local MOVES = {",
    ]
    for name in sorted(MOVES):
        m = MOVES[name]
        lines.append(
            f"  {name} = {{to = {m.to!r}, start = {_set(m.start)}, kinds = {_set(m.kinds)},"
            f" done = {_set(m.done)}}},".replace("'", '"')
        )
    lines.append("}")
    return "\n".join(lines)
