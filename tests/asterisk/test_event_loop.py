"""The FastAGI server's event loop: wire timing it must survive, one thread for every call.

A raw peer on loopback sends exactly the bytes each test needs, split across packets
where the point is that a reply may arrive in pieces, early, or not at all.
"""

from __future__ import annotations

import dataclasses
import os
import resource
import selectors
import socket
import threading
import time

import pytest
from fake_asterisk import FakeCall, ScriptedCaller
from harness import SETTINGS, Harness
from world import World

from ivr.asterisk.connection import MAX_PENDING_LINES
from ivr.asterisk.peer import default_env, env_block
from ivr.asterisk.session import CallSetup
from ivr.call import CallRunner

CALL_ID = "1795312804.30"


class RawPeer:
    """Asterisk's side of one connection, byte by byte."""

    def __init__(self, address: tuple[str, int], *, uniqueid: str = CALL_ID) -> None:
        self.sock = socket.create_connection(address, timeout=10)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.sock.sendall(env_block(default_env(caller="79990000001", uniqueid=uniqueid)))
        self.reader = self.sock.makefile("rb")

    def command(self) -> str:
        """The next command line; "" when the server closed the connection."""
        return self.reader.readline().decode().rstrip("\n")

    def send(self, *chunks: str, pause: float = 0.0) -> None:
        for chunk in chunks:
            self.sock.sendall(chunk.encode())
            time.sleep(pause)

    def closed_by_server(self) -> bool:
        try:
            return self.reader.read() == b""  # everything up to EOF
        except OSError:
            return False

    def close(self) -> None:
        self.reader.close()
        self.sock.close()


def ended(h: Harness, call_id: str = CALL_ID):  # type: ignore[no-untyped-def]
    h.wait_idle()
    return h.world.ended[call_id]


def test_hangup_before_the_reply(harness: Harness) -> None:
    peer = RawPeer(harness.address)
    assert peer.command() == 'SET VARIABLE "IVR_APPEAL" "2026000001"'
    peer.send("HANGUP\n200 result=1\n")  # Asterisk notices the hang-up first
    assert peer.closed_by_server()
    assert ended(harness).outcome == "hangup"
    assert harness.results[0].ended_by == "caller_hangup"
    peer.close()


def test_hangup_unprompted_between_commands(harness: Harness) -> None:
    peer = RawPeer(harness.address)
    peer.command()
    peer.send("200 result=1\nHANGUP\n")  # the reply, then the hang-up while the engine thinks
    second = peer.command()
    assert second.startswith(("SET VARIABLE", "STREAM FILE"))
    peer.send("200 result=1\n")
    assert peer.closed_by_server()
    assert ended(harness).outcome == "hangup"
    assert harness.results[0].ended_by == "caller_hangup"
    peer.close()


@pytest.mark.parametrize("pause", [0.0, 0.1])
def test_result_minus_one_then_hangup_in_its_own_packet(harness: Harness, pause: float) -> None:
    peer = RawPeer(harness.address)
    while not (line := peer.command()).startswith("STREAM FILE"):
        peer.send("200 result=1\n")
    assert "welcome" in line
    peer.send("200 result=-1 endpos=16160\n", "HANGUP\n", pause=pause)  # hangup_during_stream_file.txt
    assert peer.closed_by_server()
    ctx = ended(harness)
    assert ctx.outcome == "hangup" and harness.results[0].ended_by == "caller_hangup"
    peer.close()


def test_result_minus_one_alone_is_a_missing_prompt(harness: Harness) -> None:
    peer = RawPeer(harness.address)
    while not peer.command().startswith("STREAM FILE"):
        peer.send("200 result=1\n")
    started = time.monotonic()
    peer.send("200 result=-1 endpos=0\n")  # stream_file_complete.txt: no such file, the call lives on
    assert peer.command().startswith("STREAM FILE ivr/ru/language.choose")  # the next prompt
    assert 0.2 < time.monotonic() - started < 2  # it waited HANGUP_FOLLOWS for a HANGUP
    peer.sock.close()
    assert ended(harness).outcome == "hangup"
    peer.close()


def test_usage_reply_in_pieces(harness: Harness) -> None:
    peer = RawPeer(harness.address)
    peer.command()
    peer.send("520-Invalid command syntax.  Proper usage follows:\nUsa", "ge.\n", "520 End of proper usage.\n",
              pause=0.05)
    assert peer.closed_by_server()
    assert harness.results[0].ended_by == "error" and "AgiUsage" in harness.results[0].error
    peer.close()


def test_over_long_line_in_pieces_is_dropped(harness: Harness) -> None:
    peer = RawPeer(harness.address)
    peer.command()
    peer.send("200 result=0 (" + "x" * 5000, "x" * 5000, pause=0.05)  # no end of line yet
    assert peer.closed_by_server()
    harness.wait_idle()
    assert "longer than" in harness.results[0].error
    peer.close()


def test_a_flood_of_lines_is_dropped(harness: Harness) -> None:
    peer = RawPeer(harness.address)
    peer.command()
    try:
        peer.send("200 result=1\n" * (MAX_PENDING_LINES + 100))
    except OSError:
        pass  # the server may close while we still write
    assert peer.closed_by_server()
    harness.wait_idle()
    assert "lines unasked for" in harness.results[0].error
    assert len(harness.world.ended[CALL_ID].path) <= 2  # the junk was not taken for replies
    peer.close()


# -- blocking work leaves the loop ------------------------------------------------------


class SlowQueue(World):
    """Enqueue takes ``seconds`` (a Redis that stalls)."""

    def __init__(self, seconds: float) -> None:
        super().__init__()
        self.seconds = seconds
        self.entered = threading.Event()
        self.thread = ""

    def enqueue(self, ctx, action, at):  # type: ignore[no-untyped-def]
        self.thread = threading.current_thread().name
        self.entered.set()
        time.sleep(self.seconds)
        return super().enqueue(ctx, action, at)


def test_a_stalled_service_call_blocks_no_other_call(menu) -> None:  # type: ignore[no-untyped-def]
    world = SlowQueue(2.0)
    h = Harness(menu, world)
    try:
        queued = FakeCall(caller=ScriptedCaller("1#01"))
        t = threading.Thread(target=queued.run, args=(h.address,))
        t.start()
        assert world.entered.wait(5)
        started = time.monotonic()
        env = default_env(caller="79990000002", uniqueid="2.2")
        other = FakeCall(caller=ScriptedCaller("1#", hang_up_on="menu.main"), env=env).run(h.address)
        assert other.closed_by_server and time.monotonic() - started < 1.5
        assert world.thread.startswith("fastagi-service")
        t.join(10)
        assert queued.closed_by_server and ended(h).path[-1].node == "queue"
    finally:
        h.server.shutdown(1)


def test_shutdown_with_a_call_inside_a_service_call(menu) -> None:  # type: ignore[no-untyped-def]
    threads = threading.active_count()
    world = SlowQueue(2.0)
    h = Harness(menu, world)
    call = FakeCall(caller=ScriptedCaller("1#01" + "." * 100, then_hang_up=False))
    t = threading.Thread(target=call.run, args=(h.address,))
    t.start()
    assert world.entered.wait(5)
    started = time.monotonic()
    h.server.shutdown(0.2)
    assert time.monotonic() - started < 8
    t.join(5)
    assert call.closed_by_server and h.server.active_calls == 0
    assert CALL_ID in world.ended and world.queued == {}  # recorded, and not left in the queue
    assert threading.active_count() == threads


def test_recognition_runs_off_the_loop(menu) -> None:  # type: ignore[no-untyped-def]
    heard_in: list[str] = []
    world = World()

    def recognise(clip: str, mode: str, grammar: tuple[str, ...], language: str) -> tuple[str, float] | None:
        heard_in.append(threading.current_thread().name)
        time.sleep(0.2)
        return ("Иванов Иван Иванович", 0.93)

    h = Harness(menu, world)
    clock = h.clock

    def factory(env: dict[str, str]) -> CallSetup:
        runner = CallRunner(menu=menu, services=world, clock=clock)
        return CallSetup(runner=runner, appeal=world.allocate_appeal(), recognise=recognise)

    h.server.call_factory = factory
    try:
        call = FakeCall(caller=ScriptedCaller("1", then_hang_up=True)).run(h.address)
        assert call.closed_by_server
        assert heard_in and all(name.startswith("fastagi-speech") for name in heard_in)
        ctx = ended(h)
        assert ctx.name is not None and ctx.name.text == "Иванов Иван Иванович"
    finally:
        h.server.shutdown(1)


# -- many calls, one thread ---------------------------------------------------------------


def _fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def test_1000_concurrent_calls_on_one_loop_thread(menu) -> None:  # type: ignore[no-untyped-def]
    n = 1000
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < 2 * n + 200:
        if hard < 2 * n + 200:
            pytest.skip(f"needs {2 * n + 200} file descriptors (hard limit {hard})")
        resource.setrlimit(resource.RLIMIT_NOFILE, (2 * n + 200, hard))
    threads, fds = threading.active_count(), _fds()
    # Nobody answers the first command: give it time enough for 1,000 connects and reads on a
    # loaded machine (the test's 2 s grace would end the earliest calls before the count).
    h = Harness(menu, World(), max_calls=n, settings=dataclasses.replace(SETTINGS, reply_grace=120.0))
    sel = selectors.DefaultSelector()
    try:
        for i in range(n):
            sock = socket.create_connection(h.address)
            sock.sendall(env_block(default_env(caller=f"7999{i:07d}", uniqueid=f"{i}.1")))
            sock.setblocking(False)
            sel.register(sock, selectors.EVENT_READ, bytearray())
        first: dict[socket.socket, bytes] = {}
        deadline = time.monotonic() + 30
        while len(first) < n and time.monotonic() < deadline:
            for key, _ in sel.select(0.5):
                sock = key.fileobj
                assert isinstance(sock, socket.socket)
                key.data.extend(sock.recv(4096))
                if b"\n" in key.data and sock not in first:
                    first[sock] = bytes(key.data)
        assert len(first) == n and all(x.startswith(b'SET VARIABLE "IVR_APPEAL"') for x in first.values())
        assert h.server.active_calls == n
        # the loop thread and the service pool: not a thread per call
        assert threading.active_count() <= threads + 1 + 8
        for key in list(sel.get_map().values()):  # every caller hangs up at once
            sel.unregister(key.fileobj)
            key.fileobj.close()  # type: ignore[union-attr]
        h.wait_idle(30)
        assert h.server.active_calls == 0 and len(h.world.ended) == n
        assert {r.ended_by for r in h.results} == {"error"}  # the peer closed mid-command
    finally:
        sel.close()
        h.server.shutdown(1)
    assert threading.active_count() == threads
    assert _fds() == fds


class StuckQueue(World):
    """Enqueue hangs until released (a Redis that stalls past the shutdown's patience)."""

    def __init__(self) -> None:
        super().__init__()
        self.entered = threading.Event()
        self.release = threading.Event()
        self.ended_while_stuck: list[str] = []

    def enqueue(self, ctx, action, at):  # type: ignore[no-untyped-def]
        self.entered.set()
        self.release.wait(30)
        return super().enqueue(ctx, action, at)

    def call_ended(self, ctx, at):  # type: ignore[no-untyped-def]
        if not self.release.is_set():
            self.ended_while_stuck.append(ctx.call_id)
        super().call_ended(ctx, at)


def test_a_call_given_up_at_shutdown_is_cancelled_where_it_waits(menu) -> None:  # type: ignore[no-untyped-def]
    """Shutdown's last resort: a call still inside a service call after the drain and the
    grace that follows it is cancelled where it waits; its own clean-up (recording the
    hang-up) still runs, offloaded, while the stuck service call has not returned."""
    world = StuckQueue()
    h = Harness(menu, world)
    call = FakeCall(caller=ScriptedCaller("1#01" + "." * 100, then_hang_up=False))
    caller = threading.Thread(target=call.run, args=(h.address,))
    caller.start()
    stopper = threading.Thread(target=h.server.shutdown, args=(0.2,))
    try:
        assert world.entered.wait(5)
        stopper.start()
        deadline = time.monotonic() + 15
        while CALL_ID not in world.ended and time.monotonic() < deadline:
            time.sleep(0.05)
        assert world.ended_while_stuck == [CALL_ID]  # recorded while enqueue still hung
    finally:
        world.release.set()
        if stopper.is_alive():
            stopper.join(10)
        caller.join(5)
    assert not stopper.is_alive() and call.closed_by_server and h.server.active_calls == 0


def test_a_step_is_handed_to_the_pool_once_however_many_service_calls_it_makes() -> None:
    """A caller who hangs up in the queue: leaving the queue, then the call's end, are two
    service calls of one step; the loop and a pool thread wake once for both (each wake is a
    cold hand-off on a real host, bench/asterisk_cost.py), and a step with none stays inline."""
    import asyncio

    from ivr.asterisk.session import run_steps

    pieces: list[str] = []

    async def offload(work):  # type: ignore[no-untyped-def]
        pieces.append(threading.current_thread().name)
        return await asyncio.get_running_loop().run_in_executor(None, work)

    def step_with_two():  # type: ignore[no-untyped-def]
        left = yield lambda: threading.current_thread().name
        ended = yield lambda: threading.current_thread().name
        return [left, ended]

    def step_with_none():  # type: ignore[no-untyped-def]
        return ["prompt"]
        yield  # a generator all the same

    loop_thread = threading.current_thread().name
    services = asyncio.run(run_steps(step_with_two(), offload))  # type: ignore[arg-type]
    assert len(pieces) == 1 and services[0] == services[1] != loop_thread
    assert asyncio.run(run_steps(step_with_none(), offload)) == ["prompt"] and len(pieces) == 1  # type: ignore[arg-type]
