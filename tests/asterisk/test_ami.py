"""The AMI client against a small AMI server on loopback (wire format as Asterisk 22 speaks it)."""

from __future__ import annotations

import threading
import time

import pytest

from ivr.asterisk.ami import AmiClient, AmiError, CallbackCall, Message
from tests.asterisk.ami_double import AmiDouble

HANGUP = {"Event": "Hangup", "Channel": "Local/callback@hotline-callback-00000001;1", "Cause": "16"}


def test_login_originate_callback_and_events() -> None:
    ami = AmiDouble(secret="s3cret")
    client = AmiClient(*ami.address, username="ivr-engine", secret="s3cret")
    try:
        client.originate_callback(CallbackCall("cb-1", "+79990000001", "PJSIP/op101", "2026000001"))
        ami.event(HANGUP)
        event = client.events.get(timeout=5)
    finally:
        client.close()
    originate = ami.actions[1]
    assert originate["Action"] == "Originate" and originate["Channel"] == "Local/callback@hotline-callback"
    assert "IVR_CALLBACK_NUMBER=79990000001" in ami.variables[1]
    assert "IVR_OPERATOR_ENDPOINT=PJSIP/op101" in ami.variables[1]
    assert event["Event"] == "Hangup" and event["Cause"] == "16"


def test_wrong_secret_is_an_error() -> None:
    ami = AmiDouble(secret="s3cret")
    with pytest.raises(AmiError, match="Authentication failed"):
        AmiClient(*ami.address, username="ivr-engine", secret="wrong")


def test_a_dropped_connection_is_logged_in_again_and_actions_fail_fast_meanwhile(
        monkeypatch: pytest.MonkeyPatch) -> None:
    import time

    import ivr.asterisk.ami as ami_module

    monkeypatch.setattr(ami_module, "RECONNECT_FIRST", 0.05)
    ami = AmiDouble(secret="s3cret")
    back = threading.Event()
    client = AmiClient(*ami.address, username="ivr-engine", secret="s3cret", on_reconnect=back.set)
    try:
        assert client.connected and ami.logins == 1
        ami.drop()  # Asterisk restarts
        deadline = time.monotonic() + 5
        while client.connected and time.monotonic() < deadline:
            time.sleep(0.01)
        assert back.wait(5), "the client never came back"
        assert client.connected and client.reconnects == 1 and ami.logins == 2
        client.originate_callback(CallbackCall("cb-2", "+79990000002", "PJSIP/op101"))
        assert ami.actions[-1]["Action"] == "Originate"
    finally:
        client.close()


def test_an_action_while_disconnected_is_an_ami_error_at_once() -> None:
    import time

    ami = AmiDouble(secret="s3cret")
    client = AmiClient(*ami.address, username="ivr-engine", secret="s3cret")
    ami.sock.close()  # nothing to come back to
    ami.drop()
    deadline = time.monotonic() + 5
    while client.connected and time.monotonic() < deadline:
        time.sleep(0.01)
    started = time.monotonic()
    with pytest.raises(AmiError, match="not connected"):
        client.originate_callback(CallbackCall("cb-3", "+79990000003", "PJSIP/op101"))
    assert time.monotonic() - started < 0.5
    client.close()


def test_an_engine_client_with_an_event_handler_keeps_no_event_queue() -> None:
    """The engine's client hands every event to its handler; nothing piles up unread in a
    process that runs for weeks."""
    ami = AmiDouble(secret="s3cret")
    seen: list[Message] = []
    client = AmiClient(*ami.address, username="ivr-engine", secret="s3cret", on_event=seen.append)
    try:
        client.originate_callback(CallbackCall("cb-1", "+79990000001", "PJSIP/op101", "2026000001"))
        ami.event(HANGUP)
        deadline = time.monotonic() + 5
        while not seen and time.monotonic() < deadline:
            time.sleep(0.01)
    finally:
        client.close()
    assert [e["Event"] for e in seen] == ["Hangup"]
    assert client.events.empty()
