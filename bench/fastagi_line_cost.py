"""CPU of the FastAGI loop's thread per AGI line: the connection layer alone, in ping-pong.

    python bench/fastagi_line_cost.py [--conns 200] [--lines 60000]

A loop thread serves ``--conns`` connections with :class:`ivr.asterisk.connection.AgiConnection`,
each a trivial call that reads a reply line and writes the next command; this thread
plays the peer on all of them (a reply as soon as a command arrives).  Printed: the loop
thread's CPU per line (``/proc/self/task/<tid>/stat``), which leaves out the engine and
pyst2 (see ``bench/fastagi_bench.py`` for whole calls).  Compare versions by putting
another tree first on ``PYTHONPATH`` (``git archive REV | tar -x -C DIR``): it works
with the hand-driven connection of before issue 19 too.  (No ``sys.path`` set-up here:
``ivr`` comes from ``PYTHONPATH`` or the installed package.)
"""

from __future__ import annotations

import argparse
import asyncio
import os
import selectors
import socket
import threading
import time
from pathlib import Path
from typing import Any

from ivr.asterisk import connection
from ivr.asterisk.agi import AgiError
from ivr.asterisk.connection import AgiConnection

REPLY = b"200 result=0 endpos=8023\n"


async def call(conn: Any) -> None:
    loop = asyncio.get_running_loop()
    try:
        while True:
            await conn.read_line(loop.time() + 30)
            conn.write('STREAM FILE ivr/ru/menu.main "0123456789*#"')
    except AgiError:
        conn.close()


def serve(ready: threading.Event, found: dict[str, Any]) -> None:
    found["tid"] = threading.get_native_id()
    loop = asyncio.new_event_loop()
    tasks: set[asyncio.Task[None]] = set()

    def accepted(conn: Any) -> None:
        if hasattr(conn, "run"):  # before issue 19: the connection drove its coroutine
            conn.run(call(conn))
        else:
            tasks.add(loop.create_task(call(conn)))

    def factory() -> Any:
        if hasattr(connection, "ReceiveBuffer"):
            return AgiConnection(accepted, shared)  # type: ignore[call-arg]
        return AgiConnection(accepted)

    shared = connection.ReceiveBuffer() if hasattr(connection, "ReceiveBuffer") else None

    async def main() -> None:
        server = await loop.create_server(factory, "127.0.0.1", 0)
        found["address"] = server.sockets[0].getsockname()
        found["kind"] = "tasks" if not hasattr(AgiConnection, "run") else "hand-driven"
        ready.set()
        await asyncio.Event().wait()

    loop.run_until_complete(main())


def thread_cpu(tid: int) -> float:
    fields = Path(f"/proc/self/task/{tid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--conns", type=int, default=200)
    parser.add_argument("--lines", type=int, default=60_000)
    args = parser.parse_args()
    ready, found = threading.Event(), {}
    threading.Thread(target=serve, args=(ready, found), daemon=True).start()
    ready.wait()
    sel = selectors.DefaultSelector()
    for _ in range(args.conns):
        sock = socket.create_connection(found["address"])
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.setblocking(False)
        sel.register(sock, selectors.EVENT_READ)
    time.sleep(0.3)
    cpu0, t0, done = thread_cpu(found["tid"]), time.perf_counter(), 0
    for key in list(sel.get_map().values()):
        key.fileobj.send(REPLY)  # type: ignore[union-attr]
    while done < args.lines:
        for key, _ in sel.select(1):
            sock = key.fileobj
            assert isinstance(sock, socket.socket)
            done += sock.recv(4096).count(b"\n")
            sock.send(REPLY)
    wall, cpu = time.perf_counter() - t0, thread_cpu(found["tid"]) - cpu0
    print(f"{found['kind']}: {done} lines over {args.conns} connections: loop thread CPU "
          f"{cpu / done * 1e6:.1f} us a line; {wall:.1f} s")


if __name__ == "__main__":
    main()
