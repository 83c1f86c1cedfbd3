"""A citizen calls while the FastAGI port is flooded with connections that never say a word
(issue 19: 2,000 of them once took every slot for ten seconds each, and every real call was
told "busy").  The README's ``ivr serve`` with the shipped config.yaml; the flood from
sixteen loopback addresses; the citizen on the terminal softphone."""

from __future__ import annotations

import re
import resource
import socket
import time

from tests.journeys.product import Product, until

SOURCES = [f"127.0.0.{n}" for n in range(2, 18)]


def flood(port: int, per_source: int) -> list[socket.socket]:
    """Idle TCP connections to the FastAGI port, ``per_source`` from each loopback address."""
    socks = []
    for source in SOURCES:
        for _ in range(per_source):
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.bind((source, 0))
            sock.setblocking(False)
            sock.connect_ex(("127.0.0.1", port))
            socks.append(sock)
    return socks


def test_a_citizen_hears_the_greeting_through_2000_idle_connections(product: Product) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < 3000:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(3000, hard), hard))
    serving = product.serve()
    idle: list[socket.socket] = []
    try:
        idle += flood(serving.fastagi, 63)  # two waves: the second finds the first silent
        time.sleep(1.5)
        idle += flood(serving.fastagi, 63)
        assert len(idle) >= 2000
        started = time.monotonic()
        phone = product.call(serving, timeout=10)
        phone.expect("Здравствуйте! Вы позвонили на единую линию поддержки")
        assert time.monotonic() - started < 10
        phone.send("h")
        phone.expect("Call ended")
        phone.close()

        def dropped() -> int:
            text = serving.ops_get("/metrics").text
            found = re.search(r'^ivr_agi_connections_refused_total\{[^}]*reason="dropped_waiting"[^}]*\} (\S+)',
                              text, re.MULTILINE)
            return int(float(found.group(1))) if found else 0

        assert until(dropped, 10, what="idle connections dropped to make room, in /metrics") > 0
        assert serving.get("/readyz").status == 200
        # connections that never became calls are counted, not logged one by one
        assert serving.log().count("ended on a protocol error") < 20
    finally:
        for sock in idle:
            sock.close()
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
    assert serving.stop() < 20
