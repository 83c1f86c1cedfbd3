"""Busy polling for a routing call's reply (``routing.reply_busy_poll_us``).

With it set, the calling thread watches its socket while the script runs, on the CPU,
for up to that long, then sleeps in ``recv``; without it, it sleeps at once.  Shown by
the thread's voluntary context switches (``getrusage(RUSAGE_THREAD)``: a thread that
sleeps waiting for the reply is switched out voluntarily; one that watches is not, and
when it yields the CPU to another process, or is pre-empted on a loaded machine, that
counts as involuntary) while Redis is kept busy by a long script sent just before
(Redis runs commands one at a time, in the order they arrive).
"""

from __future__ import annotations

import resource
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hiredis import pack_command

from ivr.config import ConfigError, load_config
from ivr.config.schema import RoutingSettings
from routing.engine import Router
from routing.redis_conn import connect
from tests.redis_servers import RedisServer
from tests.routing.conftest import QUEUES, FakeClock, call

# A Lua loop that keeps the server busy for some tens of milliseconds.
BUSY = b"local x = 0 for i = 1, tonumber(ARGV[1]) do x = x + i end return 1"


@pytest.fixture(scope="module")
def server() -> Iterator[RedisServer]:
    server = RedisServer().start()
    yield server
    server.close()


@pytest.fixture
def client(server: RedisServer, tmp_path: Any) -> Iterator[Any]:
    client = connect(server.url, embedded_dir=str(tmp_path))
    yield client
    client.close()


def router(client: Any, busy_poll_us: int, prefix: str) -> Router:
    r = Router(
        redis=client, queues=QUEUES, operators={},
        settings=RoutingSettings(reply_busy_poll_us=busy_poll_us), clock=FakeClock(), prefix=prefix,
    )  # fmt: skip
    r.enqueue(call("c1", r.clock(), queue="general"))
    return r


def sleeps_while_redis_is_busy(server: RedisServer, r: Router, tries: int = 5) -> int:
    """Ask for c1's status while another client's long script holds the server: how many
    times the calling thread went to sleep meanwhile (voluntary context switches).  A try
    where the script was over before the call went out (the 5 ms pause stretched by a
    loaded host) tells nothing, and is made again."""
    for _ in range(tries):
        with socket.create_connection(("127.0.0.1", server.port)) as other:
            other.sendall(pack_command((b"EVAL", BUSY, b"0", b"4000000")))
            time.sleep(0.005)  # the long script has arrived, so it runs first
            before, wall = resource.getrusage(resource.RUSAGE_THREAD).ru_nvcsw, time.perf_counter()
            status = r.status("c1")
            sleeps = resource.getrusage(resource.RUSAGE_THREAD).ru_nvcsw - before
            wall = time.perf_counter() - wall
            assert other.recv(64) == b":1\r\n"
        assert (status.state, status.position) == ("waiting", 1)
        if wall > 0.01:
            return sleeps
    raise AssertionError(f"the long script was too short to tell sleeping from watching ({tries} tries)")


def test_a_call_sleeps_while_the_script_runs_unless_told_to_watch(
    server: RedisServer, client: Any
) -> None:
    sleeping = router(client, 0, "poll-off")
    watching = router(client, 1_000_000, "poll-on")
    for r in (sleeping, watching):
        sleeps_while_redis_is_busy(server, r)  # warm: connection kept, library loaded
    assert sleeps_while_redis_is_busy(server, sleeping) >= 1
    assert sleeps_while_redis_is_busy(server, watching) == 0


def test_the_watch_ends_after_its_time_and_the_call_sleeps_for_the_rest(
    server: RedisServer, client: Any
) -> None:
    r = router(client, 2_000, "poll-short")
    sleeps_while_redis_is_busy(server, r)
    assert sleeps_while_redis_is_busy(server, r) >= 1


def test_a_connection_lost_before_the_reply_goes_to_the_full_path(
    server: RedisServer, client: Any
) -> None:
    """The watch sees the closed socket first; the call is resent on a fresh connection
    (routing scripts are idempotent), as when it sleeps in ``recv``."""
    r = router(client, 1_000_000, "poll-lost")
    assert r.status("c1").position == 1
    killed = client.execute_command("CLIENT", "KILL", "TYPE", "normal", "SKIPME", "yes")
    assert killed >= 1
    assert r.status("c1").position == 1


def test_the_setting_is_read_from_the_configuration_and_checked_with_its_line(
    tmp_path: Path,
) -> None:
    path = tmp_path / "config.yaml"
    head = "queues:\n  general: {skills: [general]}\nrouting:\n"
    path.write_text(head + "  reply_busy_poll_us: 500\n")
    assert load_config(path).routing.reply_busy_poll_us == 500
    for wrong in ("-1", "20000", "0.5", "yes"):
        path.write_text(head + f"  reply_busy_poll_us: {wrong}\n")
        with pytest.raises(ConfigError, match=r"config.yaml:4:.*0 \(off\) to 10000"):
            load_config(path)
