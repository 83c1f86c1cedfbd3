"""A hostile neighbour on the port Twilio must reach: the README's engine, a flood of
slow-header connections from loopback, and meanwhile a newcomer logs in and a softphone
call completes.  Then the flood is dropped (header timeout) and the engine stops cleanly.

Before ``ivr serve`` moved to Hypercorn (werkzeug's development server: a thread per
connection, no header timeout) such a flood held every connection for as long as the
client liked and, at 3,000, froze HTTP and FastAGI alike.
"""

from __future__ import annotations

import re
import subprocess
import sys
import time

from tests.journeys.product import Product, Serving, http_log_in
from tests.journeys.test_newcomer import printed_passwords

SOURCES = [f"127.0.0.{n}" for n in range(2, 10)]  # eight neighbours on loopback
PER_SOURCE = 250  # under the default per-address limit: every one is held until its timeout
HEADER_TIMEOUT = 10.0  # config.yaml's default (http.header_timeout)


FLOOD = r"""
import selectors, socket, sys, time
port, per_source, sources, patience = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3].split(","), float(sys.argv[4])
held = selectors.DefaultSelector()
for source in sources:
    for i in range(per_source):
        sock = socket.socket()
        sock.bind((source, 0))
        sock.connect(("127.0.0.1", port))
        sock.sendall(b"POST /twilio/voice HTTP/1.1\r\nHost: hotline\r\nX-Slow: " + b"x" * (i % 5))
        sock.setblocking(False)
        held.register(sock, selectors.EVENT_READ)
print("flooding", len(held.get_map()), flush=True)
started, deadline = time.monotonic(), time.monotonic() + patience
while held.get_map() and time.monotonic() < deadline:
    for key, _ in held.select(0.5):
        try:
            gone = key.fileobj.recv(4096) == b""
        except ConnectionResetError:
            gone = True
        if gone:
            held.unregister(key.fileobj)
            key.fileobj.close()
print("open", len(held.get_map()), "after", round(time.monotonic() - started, 1), flush=True)
"""


def flood(serving: Serving) -> subprocess.Popen[str]:
    """A neighbour process holding slow-header connections until the engine closes them."""
    neighbour = subprocess.Popen(
        [sys.executable, "-c", FLOOD, str(serving.http), str(PER_SOURCE), ",".join(SOURCES),
         str(HEADER_TIMEOUT + 15)], stdout=subprocess.PIPE, text=True)
    assert neighbour.stdout is not None
    assert neighbour.stdout.readline().split() == ["flooding", str(PER_SOURCE * len(SOURCES))]
    return neighbour


def test_a_slow_header_flood_leaves_the_hotline_to_its_users(product: Product) -> None:
    serving = product.serve()
    passwords = printed_passwords(serving)
    neighbour = flood(serving)
    flooded_at = time.monotonic()
    try:
        # The newcomer logs in, promptly.
        started = time.monotonic()
        reply = http_log_in(serving, "op101", passwords["op101"])
        assert reply.status_code == 302 and "/operator" in reply.headers["Location"], reply.status_code
        assert time.monotonic() - started < 3.0
        health = serving.get("/healthz", timeout=3)
        assert health.status == 200

        # A softphone call walks the menu and ends, as on a quiet day.
        phone = product.call(serving)
        phone.expect("Здравствуйте! Вы позвонили на единую линию поддержки")
        for heard, answer in (("language.choose", ""), ("identity.say_name", "Тестов Тест Тестович"),
                              ("identity.enter_number", "#"), ("menu.main", "0"), ("consent.ask", "2")):
            phone.expect(re.escape(f"[{heard}]"))
            phone.expect("> ")
            phone.sendline(answer)
        phone.expect("> ")
        phone.sendline("h")
        phone.expect("Call ended")
        phone.close()
        assert time.monotonic() - flooded_at < HEADER_TIMEOUT, "the call outlasted the flood's timeout"

        # The flood is dropped once the header timeout has passed.
        assert neighbour.stdout is not None
        left, _, after = neighbour.stdout.readline().split()[1:]
        assert left == "0", f"{left} slow-header connections still open after {after} s"
        assert float(after) < HEADER_TIMEOUT + 5
    finally:
        neighbour.kill()
        neighbour.wait(10)
    assert serving.get("/healthz").status == 200
    assert serving.stop() < 10
