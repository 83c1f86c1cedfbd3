"""The ports the tests hand to servers in other processes cannot be taken by an outgoing
connection in the meantime: they lie below the kernel's ephemeral range."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from tests import ports
from tests.ports import free_port


def _ephemeral_low() -> int:
    return int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])


def test_ports_lie_below_the_ephemeral_range_and_are_free() -> None:
    for _ in range(200):
        port = free_port()
        assert port < _ephemeral_low()
        with socket.socket() as server:
            server.bind(("127.0.0.1", port))


def test_a_cluster_nodes_bus_port_is_free_and_below_the_range_too() -> None:
    for _ in range(50):
        port = free_port(with_offset=10000)
        assert port + 10000 < _ephemeral_low()
        with socket.socket() as node, socket.socket() as bus:
            node.bind(("127.0.0.1", port))
            bus.bind(("127.0.0.1", port + 10000))


def test_a_taken_port_is_never_handed_out(monkeypatch: pytest.MonkeyPatch) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", free_port()))
        taken.listen()
        port = taken.getsockname()[1]
        drawn = iter([port, port, port + 1])
        monkeypatch.setattr(ports._rng, "randrange", lambda low, high: next(drawn))
        assert free_port() == port + 1
