"""The AMI client against a small AMI server on loopback (wire format as Asterisk 22 speaks it)."""

from __future__ import annotations

import socket
import threading
import time

import pytest

from ivr.asterisk.ami import AmiClient, AmiError, CallbackCall, Message, parse_message


class FakeAmi:
    def __init__(self, *, secret: str = "s3cret") -> None:
        self.secret = secret
        self.actions: list[dict[str, str]] = []
        self.logins = 0
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.address = self.sock.getsockname()
        self.thread = threading.Thread(target=self.serve, daemon=True)
        self.thread.start()

    def serve(self) -> None:
        while True:  # one connection at a time, as long as the test runs
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.conn = conn
            self.session(conn)

    def drop(self) -> None:
        """Asterisk restarting: the connection goes, the port refuses until ``back()``."""
        self.conn.shutdown(socket.SHUT_RDWR)
        self.conn.close()

    def session(self, conn: socket.socket) -> None:
        conn.sendall(b"Asterisk Call Manager/9.0.0\r\n")
        buf = b""
        while True:
            try:
                chunk = conn.recv(4096)
            except OSError:
                break
            if not chunk:
                break
            buf += chunk
            while b"\r\n\r\n" in buf:
                block, buf = buf.split(b"\r\n\r\n", 1)
                text = block.decode()
                msg = parse_message(text)
                msg["_variables"] = ";".join(l[10:] for l in text.split("\r\n") if l.startswith("Variable: "))
                self.actions.append(msg)
                aid = msg["ActionID"]
                if msg["Action"] == "Login":
                    self.logins += 1
                if msg["Action"] == "Login" and msg["Secret"] != self.secret:
                    conn.sendall(f"Response: Error\r\nActionID: {aid}\r\nMessage: Authentication failed\r\n\r\n".encode())
                    continue
                reply = "Message: Originate successfully queued" if msg["Action"] == "Originate" else "Message: Authentication accepted"
                conn.sendall(f"Response: Success\r\nActionID: {aid}\r\n{reply}\r\n\r\n".encode())
                if msg["Action"] == "Originate":
                    conn.sendall(b"Event: Hangup\r\nChannel: Local/callback@hotline-callback-00000001;1\r\nCause: 16\r\n\r\n")
        conn.close()


def test_login_originate_callback_and_events() -> None:
    ami = FakeAmi()
    client = AmiClient(*ami.address, username="ivr-engine", secret="s3cret")
    try:
        client.originate_callback(CallbackCall("cb-1", "+79990000001", "PJSIP/op101", "2026000001"))
        event = client.events.get(timeout=5)
    finally:
        client.close()
    originate = ami.actions[1]
    assert originate["Action"] == "Originate" and originate["Channel"] == "Local/callback@hotline-callback"
    assert "IVR_CALLBACK_NUMBER=79990000001" in originate["_variables"]
    assert "IVR_OPERATOR_ENDPOINT=PJSIP/op101" in originate["_variables"]
    assert event["Event"] == "Hangup" and event["Cause"] == "16"


def test_wrong_secret_is_an_error() -> None:
    ami = FakeAmi()
    with pytest.raises(AmiError, match="Authentication failed"):
        AmiClient(*ami.address, username="ivr-engine", secret="wrong")


def test_a_dropped_connection_is_logged_in_again_and_actions_fail_fast_meanwhile(
        monkeypatch: pytest.MonkeyPatch) -> None:
    import time

    import ivr.asterisk.ami as ami_module

    monkeypatch.setattr(ami_module, "RECONNECT_FIRST", 0.05)
    ami = FakeAmi()
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

    ami = FakeAmi()
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
    ami = FakeAmi()
    seen: list[Message] = []
    client = AmiClient(*ami.address, username="ivr-engine", secret="s3cret", on_event=seen.append)
    try:
        client.originate_callback(CallbackCall("cb-1", "+79990000001", "PJSIP/op101", "2026000001"))
        deadline = time.monotonic() + 5
        while not seen and time.monotonic() < deadline:
            time.sleep(0.01)
    finally:
        client.close()
    assert [e["Event"] for e in seen] == ["Hangup"]
    assert client.events.empty()
