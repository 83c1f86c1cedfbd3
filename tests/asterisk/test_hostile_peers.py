"""Hostile FastAGI peers on loopback (issue 19): idle connections that never send an AGI
environment, hosts that are not Asterisk, one address hogging the slots.

Real sockets against the real server; the idle peers come from several 127.0.0.x source
addresses (``bind`` before ``connect``) so that the caps per address are exercised.
"""

from __future__ import annotations

import dataclasses
import logging
import resource
import socket
import time
from collections.abc import Callable, Iterator
from ipaddress import ip_network

import pytest
from fake_asterisk import FakeCall, ScriptedCaller
from harness import SETTINGS, Harness
from world import World

from ivr.asterisk.admission import SILENT_GRACE, AdmissionSettings
from ivr.asterisk.peer import default_env

# Production's environment deadline: an idle peer would hold a slot this long.
PATIENT = dataclasses.replace(SETTINGS, env_timeout=10.0)


@pytest.fixture
def fds() -> Iterator[None]:
    """Room for a few thousand sockets on both ends."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    needed = 5000
    if soft < needed:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(needed, hard), hard))
    yield
    resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


def idle(address: tuple[str, int], source: str, n: int) -> list[socket.socket]:
    """``n`` connections from ``source`` that never say a word (non-blocking connects)."""
    socks = []
    for _ in range(n):
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.bind((source, 0))
        sock.setblocking(False)
        sock.connect_ex(address)
        socks.append(sock)
    return socks


def closed_by_server(sock: socket.socket, within: float) -> bool:
    """Did the server close ``sock`` (end of stream or reset) within ``within`` seconds?"""
    sock.setblocking(True)
    sock.settimeout(within)
    try:
        return sock.recv(1) == b""
    except TimeoutError:
        return False
    except ConnectionResetError:
        return True
    finally:
        sock.setblocking(False)


def still_open(sock: socket.socket) -> bool:
    sock.setblocking(False)
    try:
        return sock.recv(1) != b""
    except BlockingIOError:
        return True
    except ConnectionResetError:
        return False


def close_all(socks: list[socket.socket]) -> None:
    for sock in socks:
        sock.close()


def commands(call: FakeCall) -> list[str]:
    return [line[3:] for line in call.transcript if line.startswith(">> ")]


def test_a_real_call_is_served_through_2000_idle_connections(menu, fds) -> None:  # type: ignore[no-untyped-def]
    """Before: 2,000 idle connections held every slot for env_timeout; the call was told "busy"
    (or, with the refusals full too, just closed)."""
    h = Harness(menu, World(), max_calls=500, settings=PATIENT)
    flood: list[socket.socket] = []
    try:
        for wave in range(2):  # two waves: the second finds the first silent
            for i in range(16):
                flood += idle(h.address, f"127.0.0.{2 + i}", 63)
            time.sleep(SILENT_GRACE + 0.3)
        assert len(flood) >= 2000
        started = time.monotonic()
        call = FakeCall(caller=ScriptedCaller(""), env=default_env(caller="79990000042", uniqueid="42.1"))
        call.run(h.address, timeout=10)
        took = time.monotonic() - started
        sent = commands(call)
        assert sent and sent[0] == 'SET VARIABLE "IVR_APPEAL" "2026000001"', sent[:3]
        assert 'SET VARIABLE IVR_STATUS "busy"' not in sent
        assert call.closed_by_server and took < 5.0
        h.wait_idle(2.0)
        assert "42.1" in h.world.ended  # the engine took the call and saw it end
        assert h.server.admission.dropped_waiting > 0  # idle ones made room, not the call
    finally:
        close_all(flood)
        h.server.shutdown(1)


def test_a_host_not_listed_is_closed_at_once_and_logged_once(menu, caplog) -> None:  # type: ignore[no-untyped-def]
    allowed = AdmissionSettings(allowed_hosts=(ip_network("127.0.0.1/32"),))
    h = Harness(menu, World(), settings=PATIENT, admission=allowed)
    strangers: list[socket.socket] = []
    try:
        with caplog.at_level(logging.WARNING, logger="ivr.asterisk.server"):
            strangers = idle(h.address, "127.0.0.9", 5)
            assert all(closed_by_server(sock, within=1.0) for sock in strangers)
        assert h.server.admission.refused["not_allowed"] == 5
        assert h.server.active_calls == 0 and h.server.calls_refused == 0  # no slot, no "busy"
        lines = [r.getMessage() for r in caplog.records if "127.0.0.9" in r.getMessage()]
        assert len(lines) == 1 and "not in asterisk.allowed_hosts" in lines[0]
        call = FakeCall(caller=ScriptedCaller(""), env=default_env(caller="79990000043", uniqueid="43.1"))
        assert commands(call.run(h.address, timeout=10))[0] == 'SET VARIABLE "IVR_APPEAL" "2026000001"'
    finally:
        close_all(strangers)
        h.server.shutdown(1)


def test_silent_connections_beyond_the_cap_of_one_address_are_pushed_out(menu) -> None:  # type: ignore[no-untyped-def]
    h = Harness(menu, World(), settings=PATIENT)  # waiting_per_host: 64 (the default)
    hog: list[socket.socket] = []
    other: list[socket.socket] = []
    try:
        hog = idle(h.address, "127.0.0.4", 80)
        other = idle(h.address, "127.0.0.5", 10)
        time.sleep(SILENT_GRACE + 0.3)
        hog += idle(h.address, "127.0.0.4", 1)  # its arrival pushes the 17 oldest silent ones out
        assert all(closed_by_server(sock, within=2.0) for sock in hog[:17])
        assert all(still_open(sock) for sock in hog[17:])
        assert all(still_open(sock) for sock in other)  # another address keeps its own
    finally:
        close_all(hog + other)
        h.server.shutdown(1)


def test_connections_beyond_calls_per_host_are_handed_back_busy(menu) -> None:  # type: ignore[no-untyped-def]
    h = Harness(menu, World(), settings=PATIENT, admission=AdmissionSettings(calls_per_host=3))
    held: list[socket.socket] = []
    try:
        held = idle(h.address, "127.0.0.6", 3)
        wait_for(lambda: h.server.active_calls == 3)
        over = FakeCall(caller=ScriptedCaller(""), env=default_env(caller="79990000044", uniqueid="44.1"),
                        source="127.0.0.6")
        over.run(h.address, timeout=5)
        assert commands(over) == ['SET VARIABLE IVR_STATUS "busy"']
        assert h.server.admission.refused["host_full"] == 1
        call = FakeCall(caller=ScriptedCaller(""), env=default_env(caller="79990000045", uniqueid="45.1"))
        assert commands(call.run(h.address, timeout=10))[0] == 'SET VARIABLE "IVR_APPEAL" "2026000001"'
    finally:
        close_all(held)
        h.server.shutdown(1)


def wait_for(condition: Callable[[], bool], seconds: float = 3.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


def test_under_pressure_a_new_connection_gets_a_short_deadline_and_the_oldest_goes_first(menu) -> None:  # type: ignore[no-untyped-def]
    """Before: every idle connection kept its slot for the full env_timeout (10 s here)."""
    h = Harness(menu, World(), max_calls=40, settings=PATIENT)
    early: list[socket.socket] = []
    late: list[socket.socket] = []
    try:
        early = idle(h.address, "127.0.0.7", 21)  # the 21st makes more than half the slots env-less
        wait_for(lambda: h.server.active_calls == 21)
        started = time.monotonic()
        late = idle(h.address, "127.0.0.8", 19)  # under pressure: each gets a short deadline
        wait_for(lambda: h.server.active_calls == 40)  # every slot taken
        late += idle(h.address, "127.0.0.8", 1)  # ... so the oldest env-less makes room
        assert closed_by_server(early[0], within=1.0)
        assert all(closed_by_server(sock, within=4.0) for sock in late)  # env_timeout_under_pressure
        assert time.monotonic() - started < 4.0
        assert all(still_open(sock) for sock in early[1:])  # accepted before the pressure: 10 s
    finally:
        close_all(early + late)
        h.server.shutdown(1)


def test_config_lists_asterisk_hosts_and_refuses_an_empty_or_malformed_list(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from world import ROOT

    from ivr.config import ConfigError
    from ivr.config.load import load_config

    shipped = (ROOT / "config.yaml").read_text()
    assert load_config(str(ROOT / "config.yaml")).asterisk.allowed_hosts == AdmissionSettings().allowed_hosts
    (tmp_path / "dialplans").symlink_to(ROOT / "dialplans")  # the calendar beside it
    line = next(n for n, text in enumerate(shipped.splitlines(), 1) if "allowed_hosts:" in text)
    for bad, why in (("[]", "at least one Asterisk host"), ("[10.0.0.5/33]", "not an IP address or network")):
        edited = tmp_path / "config.yaml"
        edited.write_text(shipped.replace('allowed_hosts: [127.0.0.0/8, "::1"]', f"allowed_hosts: {bad}"))
        with pytest.raises(ConfigError) as refused:
            load_config(str(edited))
        message = str(refused.value)
        assert f"config.yaml:{line}" in message and why in message, message
    edited.write_text(shipped.replace('allowed_hosts: [127.0.0.0/8, "::1"]', "allowed_hosts: [10.0.0.5, 10.0.1.0/28]"))
    listed = load_config(str(edited)).asterisk.allowed_hosts
    assert [str(net) for net in listed] == ["10.0.0.5/32", "10.0.1.0/28"]
