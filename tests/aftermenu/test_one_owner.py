"""One module owns a call's life after the menu: only ivr/aftermenu calls the router's
state-changing methods; the front ends hand it outcomes.  Read from the source (AST), so
a new front end that calls ``router.ended(...)`` itself fails here."""

from __future__ import annotations

import ast
import inspect
from pathlib import Path

from ivr.aftermenu import TABLE, outcomes
from routing.engine import Router
from routing.states import MOVES

ROOT = Path(__file__).resolve().parents[2]

#: The router's methods that move a call, and where each may be called.
OWNERS = {
    "connected": {"ivr/aftermenu/life.py"},
    "ended": {"ivr/aftermenu/life.py"},
    "abandon": {"ivr/aftermenu/life.py"},
    "missed": {"ivr/aftermenu/life.py"},
    "request_callback": {"ivr/aftermenu/life.py"},
    "callback_result": {"ivr/aftermenu/life.py"},
    "transfer": {"ivr/aftermenu/life.py"},
    "transfer_failed": {"ivr/aftermenu/life.py"},
    "consult": {"ivr/aftermenu/life.py"},
    "consult_complete": {"ivr/aftermenu/life.py"},
    "consult_cancel": {"ivr/aftermenu/life.py"},
    # Joining the line is the menu's last step; an operator's own ready / not ready is his.
    "enqueue": {"ivr/call/routed.py"},
    "set_operator_state": {"ivr/console/operator.py"},
    "after_call": {"ivr/console/operator.py"},  # the state he asks for once this call is over
}


def _receiver(node: ast.expr) -> str:
    return ast.unparse(node).lower()


def calls_of_router(path: Path) -> list[tuple[str, int]]:
    """(method, line) of every ``<something router>.<method>(...)`` in the file; also a
    method taken from a router without a call (``f = router.ended``)."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Attribute) and node.attr in OWNERS and "router" in _receiver(node.value):
            found.append((node.attr, node.lineno))
    return found


def test_only_the_owners_call_the_routers_state_changing_methods() -> None:
    wrong = []
    for package in ("ivr", "routing"):  # the product (bench/ drives the router on purpose)
        for path in sorted((ROOT / package).rglob("*.py")):
            rel = path.relative_to(ROOT).as_posix()
            for method, line in calls_of_router(path):
                if rel not in OWNERS[method]:
                    wrong.append(f"{rel}:{line}: router.{method}")
    assert wrong == [], "call the moves through ivr.aftermenu.CallLife:\n" + "\n".join(wrong)


def test_the_check_sees_a_direct_call(tmp_path: Path) -> None:
    bad = tmp_path / "front.py"
    bad.write_text("def hung_up(self, call_id):\n    self.router.ended(call_id)\n"
                   "    engine.router.abandon(call_id, node='x')\n")
    assert calls_of_router(bad) == [("ended", 2), ("abandon", 3)]


def test_every_state_changing_method_is_owned() -> None:
    public = {name for name, _ in inspect.getmembers(Router, inspect.isfunction) if not name.startswith("_")}
    reads = {"status", "callback", "due_callbacks", "operator_status", "assign", "tick", "snapshot",
             "events", "latest_event_id", "unanswered", "context", "transfers", "consultation"}
    assert public - reads == set(OWNERS)


def test_every_outcome_has_a_row_and_every_row_a_move() -> None:
    named = {obj for obj in vars(outcomes).values()
             if isinstance(obj, type) and obj.__module__ == outcomes.__name__}
    assert named == set(TABLE)
    assert {row.move for row in TABLE.values()} == set(MOVES)
