"""Twilio and a console's browser keep one connection to the engine and send request after
request on it.  Each reply must come as fast as the first: the README's engine, one
keep-alive connection from a client that sends at once (TCP_NODELAY, as browsers and
Python's urllib3 do), ``/healthz`` nine times.

Before the listener set TCP_NODELAY on the connections it accepts, every request after a
connection's first waited about 40 ms: the reply went out in several writes, the kernel held
the later ones until the client acknowledged the first, and the client delays that ack.
"""

from __future__ import annotations

import socket
import statistics
import time

from tests.journeys.product import Product

DELAYED_ACK = 0.040  # Linux's minimum delayed acknowledgement: what each reply used to wait


def one_reply(client: socket.socket, port: int) -> tuple[float, bytes]:
    """Seconds from sending ``GET /healthz`` to having read its whole reply, and the reply."""
    started = time.perf_counter()
    client.sendall(f"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\r\n".encode())
    reply = b""
    while b"\r\n\r\n" not in reply:
        reply += client.recv(65536)
    head, _, body = reply.partition(b"\r\n\r\n")
    length = next(int(line.split(b":")[1]) for line in head.split(b"\r\n") if line.lower().startswith(b"content-length:"))
    while len(body) < length:
        body += client.recv(65536)
    return time.perf_counter() - started, head


def test_a_client_on_one_keep_alive_connection_gets_each_reply_without_the_delayed_ack_wait(
        product: Product) -> None:
    serving = product.serve()
    client = socket.create_connection(("127.0.0.1", serving.http), timeout=10)
    client.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    took = []
    for _ in range(9):
        seconds, head = one_reply(client, serving.http)
        assert head.startswith(b"HTTP/1.1 200"), head
        took.append(seconds)
    client.close()
    # One connection all along, and most replies well under the 40 ms each used to wait.
    assert statistics.median(took[1:]) < DELAYED_ACK / 2, [round(t * 1000, 1) for t in took]
    serving.stop()
