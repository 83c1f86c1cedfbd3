"""Transfer from the operator's screen-pop: the console's routes, the routing moves and the
AMI actions, with every bad input and failure the issue names.

The engine and its console are real (Flask test client, a real Redis); the telephony is
:class:`ivr.asterisk.control.AsteriskControl` with the real AMI client, talking over
loopback TCP to a small AMI server that answers as Asterisk 22 does (``Response: Success /
Message: Redirect successful``; ``Response: Error / Message: No such channel``), so the
failures can be had on demand.  The real Asterisk does the same in
``tests/integration/test_transfer_real.py``.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask

from ivr.aftermenu import OperatorAnswered
from ivr.aftermenu.legs import Legs
from ivr.asterisk.ami import AmiClient, parse_message
from ivr.asterisk.control import AsteriskControl
from ivr.asterisk.transfer import ConsultEvents
from ivr.engine import Engine
from tests.console.conftest import Clock, Console, place_call, security_kinds

CALLER, FIRST = "PJSIP/trunk-00000001", "PJSIP/op101-00000002"

# What the AMI server says to each action: (Response, Message); and UserEvents after Atxfer.
OK = {"Login": ("Success", "Authentication accepted"), "Redirect": ("Success", "Redirect successful"),
      "Setvar": ("Success", "Variable Set"), "Atxfer": ("Success", "Atxfer successfully queued"),
      "Hangup": ("Success", "Channel Hungup"), "CancelAtxfer": ("Success", "Transfer cancelled"),
      "Getvar": ("Success", "Result will follow")}


class LoopbackAmi:
    """One AMI session on loopback: records actions, answers from ``replies``."""

    def __init__(self) -> None:
        self.replies: dict[str, tuple[str, str]] = dict(OK)
        self.consult_status: str | None = "DIALLING"  # the UserEvent after Atxfer (None: none)
        self.actions: list[dict[str, str]] = []
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.address = self.sock.getsockname()
        threading.Thread(target=self.serve, daemon=True).start()

    def serve(self) -> None:
        try:
            conn, _ = self.sock.accept()
        except OSError:
            return
        conn.sendall(b"Asterisk Call Manager/9.0.0\r\n")
        buf = b""
        while chunk := conn.recv(4096):
            buf += chunk
            while b"\r\n\r\n" in buf:
                block, buf = buf.split(b"\r\n\r\n", 1)
                msg = parse_message(block.decode())
                self.actions.append(msg)
                response, message = self.replies.get(msg["Action"], ("Error", "Invalid/unknown command"))
                conn.sendall(f"Response: {response}\r\nActionID: {msg['ActionID']}\r\nMessage: {message}\r\n\r\n"
                             .encode())
                if msg["Action"] == "Atxfer" and response == "Success" and self.consult_status:
                    call = next(a["Value"] for a in self.actions if a.get("Variable") == "__IVR_CONSULT_CALL")
                    conn.sendall(f"Event: UserEvent\r\nUserEvent: IvrConsult\r\nCall: {call}\r\n"
                                 f"Status: {self.consult_status}\r\n\r\n".encode())
        conn.close()

    def named(self, action: str) -> list[dict[str, str]]:
        return [a for a in self.actions if a["Action"] == action]

    def close(self) -> None:
        self.sock.close()


@pytest.fixture()
def ami(engine: Engine) -> Iterator[LoopbackAmi]:
    server = LoopbackAmi()
    events = ConsultEvents()
    client = AmiClient(*server.address, username="ivr-engine", secret="x", on_event=events.on_event)
    engine.live_controls["asterisk"] = AsteriskControl(ami=client, consult_events=events)
    try:
        yield server
    finally:
        client.close()
        server.close()


def talking(engine: Engine, call_id: str = "c1") -> str:
    """A caller in the general line, op101 answers (AMI's DialEnd names both legs)."""
    place_call(engine, call_id, topic_key="0")
    engine.router.set_operator_state("op101", "available")
    assert engine.router.status(call_id).assignment.operator_id == "op101"  # type: ignore[union-attr]
    engine.call_life.apply(OperatorAnswered(call_id, Legs(call_id, "asterisk", "op101", CALLER, FIRST,
                                                          engine.clock())))
    return call_id


def state(engine: Engine, op: str) -> str:
    return engine.router.operator_status(op).state


def audit_actions(engine: Engine) -> list[tuple[str, str, str]]:
    path = Path(engine.config.path(engine.config.console.audit_log))
    lines = [json.loads(x) for x in path.read_text().splitlines()] if path.exists() else []
    return [(x["action"], x["outcome"], x.get("detail", "")) for x in lines if x["action"].startswith("transfer")]


@pytest.fixture()
def oleg(app: Flask) -> Console:
    return Console(app, "oleg")  # op101


def transfer(console: Console, body: dict[str, Any], call_id: str = "c1") -> Any:
    return console.post(f"/operator/api/calls/{call_id}/transfer", body)


def test_blind_to_the_second_line_redirects_the_caller_and_audits(engine: Engine, ami: LoopbackAmi,
                                                                  oleg: Console) -> None:
    talking(engine)
    reply = transfer(oleg, {"mode": "blind", "queue": "second_line", "note": "вторая линия"})
    assert reply.status_code == 200, reply.get_json()
    assert reply.get_json()["state"] == "wrap_up"
    (redirect,) = ami.named("Redirect")
    assert (redirect["Channel"], redirect["Context"], redirect["Exten"], redirect["Priority"]) == (
        CALLER, "operator-transfer", "s", "1")
    st = engine.router.status("c1")
    assert (st.state, st.position) == ("waiting", 1)
    assert audit_actions(engine) == [("transfer_blind", "allowed", "queue second_line")]
    # op101 wraps up his part though the call is no longer his.
    wrap = oleg.post("/operator/api/calls/c1/wrap-up", {"result": "escalated", "status": "in_progress", "note": ""})
    assert wrap.status_code == 200, wrap.get_json()
    assert engine.router.status("c1").state == "waiting"  # his wrap-up does not end the caller's call


def test_ami_failing_midway_gives_the_call_back_and_releases_the_next_operator(
    engine: Engine, ami: LoopbackAmi, oleg: Console
) -> None:
    talking(engine)
    engine.router.set_operator_state("op104", "available")  # second_line: 5, reserved at once
    ami.replies["Redirect"] = ("Error", "Failed to redirect")
    reply = transfer(oleg, {"mode": "blind", "queue": "second_line"})
    assert (reply.status_code, reply.get_json()["error"]) == (502, "telephony_failed")
    assert "остаётся у вас" in reply.get_json()["message"]
    st = engine.router.status("c1")
    assert (st.state, st.assignment.operator_id, st.assignment.queue) == ("connected", "op101", "general")  # type: ignore[union-attr]
    assert (state(engine, "op101"), state(engine, "op104")) == ("on_call", "available")
    assert audit_actions(engine)[-1][:2] == ("transfer_blind", "refused")
    # The operator tries again once AMI is back: it works.
    ami.replies["Redirect"] = OK["Redirect"]
    assert transfer(oleg, {"mode": "blind", "queue": "second_line"}).status_code == 200


def test_a_transfer_of_a_call_that_just_hung_up_ends_it_and_reserves_nobody(
    engine: Engine, ami: LoopbackAmi, oleg: Console
) -> None:
    talking(engine)
    engine.router.set_operator_state("op104", "available")
    ami.replies["Redirect"] = ("Error", "No such channel")  # Asterisk: the caller's channel is gone
    reply = transfer(oleg, {"mode": "blind", "queue": "second_line"})
    assert (reply.status_code, reply.get_json()["error"]) == (410, "call_over")
    assert engine.router.status("c1").state == "gone"
    assert (state(engine, "op101"), state(engine, "op104")) == ("wrap_up", "available")


def test_bad_targets_closed_queue_and_offline_operator_are_refused_with_nothing_changed(
    engine: Engine, ami: LoopbackAmi, oleg: Console, clock: Clock
) -> None:
    talking(engine)
    cases = [({"mode": "blind", "queue": "no_such"}, 400, "unknown_queue"),
             ({"mode": "blind", "operator": "op999"}, 400, "unknown_operator"),
             ({"mode": "sideways", "queue": "general"}, 400, "bad_mode"),
             ({"mode": "blind"}, 400, "bad_target"),
             ({"mode": "blind", "queue": "general", "note": "x" * 2001}, 400, "note_too_long"),
             ({"mode": "blind", "operator": "op102"}, 409, "operator_not_ready"),
             ({"mode": "warm", "operator": "op102"}, 409, "operator_not_ready"),
             ({"mode": "blind", "operator": "op101"}, 409, "same_operator"),
             ({"mode": "warm", "queue": "second_line"}, 409, "no_operator")]
    for body, status, kind in cases:
        reply = transfer(oleg, body)
        assert (reply.status_code, reply.get_json()["error"]) == (status, kind), body
    clock.advance(10 * 3600)  # 22:00 Moscow: the second line (8-20) is closed
    reply = transfer(oleg, {"mode": "blind", "queue": "second_line"})
    assert (reply.status_code, reply.get_json()["error"]) == (409, "closed")
    assert ami.named("Redirect") == [] and ami.named("Atxfer") == []
    st = engine.router.status("c1")
    assert (st.state, st.assignment.operator_id) == ("connected", "op101")  # type: ignore[union-attr]
    assert state(engine, "op101") == "on_call"
    assert engine.router.transfers("c1") == []
    assert {a[1] for a in audit_actions(engine)} == {"refused"}


def test_a_double_click_transfers_once_and_is_no_attempt_at_another_operators_call(
    engine: Engine, ami: LoopbackAmi, oleg: Console
) -> None:
    talking(engine)
    engine.router.set_operator_state("op104", "available")
    first = transfer(oleg, {"mode": "blind", "queue": "second_line"})
    second = transfer(oleg, {"mode": "blind", "queue": "second_line"})
    assert first.status_code == 200
    assert (second.status_code, second.get_json()["error"]) == (409, "already_transferred")
    assert len(ami.named("Redirect")) == 1
    assert engine.router.status("c1").assignment.operator_id == "op104"  # type: ignore[union-attr]
    assert "not_your_call" not in security_kinds(engine)


def test_another_operator_cannot_transfer_the_call(engine: Engine, ami: LoopbackAmi, app: Flask) -> None:
    talking(engine)
    olga = Console(app, "olga")  # op102
    reply = transfer(olga, {"mode": "blind", "queue": "general"})
    assert (reply.status_code, reply.get_json()["error"]) == (403, "not_your_call")
    assert ami.named("Redirect") == []


def test_a_call_no_telephony_can_act_on_is_refused(engine: Engine, oleg: Console) -> None:
    place_call(engine, "c1", topic_key="0")
    engine.router.set_operator_state("op101", "available")
    engine.call_life.apply(OperatorAnswered("c1"))  # the terminal softphone: no legs
    reply = transfer(oleg, {"mode": "blind", "queue": "second_line"})
    assert (reply.status_code, reply.get_json()["error"]) == (409, "call_not_live")
    assert engine.router.status("c1").state == "connected"


def test_warm_transfer_consult_then_complete(engine: Engine, ami: LoopbackAmi, oleg: Console,
                                             app: Flask) -> None:
    talking(engine)
    engine.router.set_operator_state("op104", "available")
    reply = transfer(oleg, {"mode": "warm", "queue": "second_line", "note": "сложный"})
    assert reply.status_code == 200, reply.get_json()
    assert (reply.get_json()["consulting"], reply.get_json()["next"]) == (True, "op104")
    variables = {a["Variable"]: a["Value"] for a in ami.named("Setvar")}
    assert variables == {"__IVR_CONSULT_ENDPOINT": "PJSIP/op104", "__IVR_CONSULT_CALL": "c1",
                         "__IVR_CONSULT_OPERATOR": "op104"}
    assert all(a["Channel"] == FIRST for a in ami.named("Setvar"))
    (atxfer,) = ami.named("Atxfer")
    assert (atxfer["Channel"], atxfer["Context"], atxfer["Exten"]) == (FIRST, "operator-consult", "1")
    assert state(engine, "op104") == "reserved"
    again = transfer(oleg, {"mode": "warm", "operator": "op103"})
    assert (again.status_code, again.get_json()["error"]) == (409, "consulting")

    done = oleg.post("/operator/api/calls/c1/transfer/complete", {})
    assert done.status_code == 200, done.get_json()
    assert [a["Channel"] for a in ami.named("Hangup")] == [FIRST]  # the first operator's leg
    st = engine.router.status("c1")
    assert (st.state, st.assignment.operator_id) == ("connected", "op104")  # type: ignore[union-attr]
    assert (state(engine, "op101"), state(engine, "op104")) == ("wrap_up", "on_call")
    legs = engine.call_life.legs.get("c1")
    assert legs is not None and (legs.operator_id, legs.caller, legs.operator) == ("op104", CALLER, "")
    assert [a[:2] for a in audit_actions(engine)] == [
        ("transfer_warm", "allowed"), ("transfer_warm", "refused"), ("transfer_complete", "allowed")]
    complete_again = oleg.post("/operator/api/calls/c1/transfer/complete", {})
    assert (complete_again.status_code, complete_again.get_json()["error"]) == (409, "no_consultation")


def test_warm_transfer_cancelled_releases_the_next_operator(engine: Engine, ami: LoopbackAmi, oleg: Console) -> None:
    talking(engine)
    engine.router.set_operator_state("op104", "available")
    assert transfer(oleg, {"mode": "warm", "operator": "op104"}).status_code == 200
    cancelled = oleg.post("/operator/api/calls/c1/transfer/cancel", {})
    assert cancelled.status_code == 200, cancelled.get_json()
    assert [a["Channel"] for a in ami.named("CancelAtxfer")] == [FIRST]
    assert (state(engine, "op101"), state(engine, "op104")) == ("on_call", "available")
    nothing = oleg.post("/operator/api/calls/c1/transfer/cancel", {})
    assert (nothing.status_code, nothing.get_json()["error"]) == (409, "no_consultation")


def test_warm_transfer_that_asterisk_refuses_releases_the_next_operator(
    engine: Engine, ami: LoopbackAmi, oleg: Console
) -> None:
    talking(engine)
    engine.router.set_operator_state("op104", "available")
    ami.replies["Atxfer"] = ("Error", "No attended transfer feature code found")
    reply = transfer(oleg, {"mode": "warm", "operator": "op104"})
    assert (reply.status_code, reply.get_json()["error"]) == (502, "telephony_failed")
    assert (state(engine, "op101"), state(engine, "op104")) == ("on_call", "available")


def test_a_consultation_asterisk_never_starts_is_refused_in_seconds(
    engine: Engine, ami: LoopbackAmi, oleg: Console
) -> None:
    """Atxfer is only "queued": without the consultation's UserEvent the console says it
    failed, and the next operator is free again."""
    talking(engine)
    engine.router.set_operator_state("op104", "available")
    ami.consult_status = None
    started = time.monotonic()
    reply = transfer(oleg, {"mode": "warm", "operator": "op104"})
    assert (reply.status_code, reply.get_json()["error"]) == (502, "telephony_failed")
    assert time.monotonic() - started < 10
    assert state(engine, "op104") == "available"
