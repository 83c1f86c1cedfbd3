"""Server instructions per assignment: redis-server under callgrind, counted, not timed.

    python bench/routing_instructions.py          # needs valgrind (apt install valgrind)

Timings on this shared 2-vCPU machine move by 30 % from one run to the next; instruction
counts do not, so a change to the Lua scripts can be judged by one run of each version.
Plays the assignment phase of ``bench/routing_bench.py`` (300 operators, 3,000 calls, the
clock held still) against a ``redis-server`` run by ``valgrind --tool=callgrind`` with
instrumentation off, switches it on for one round of "available -> reserved", and prints
the instructions the server executed per call (parsing the request, the whole script,
writing the reply; not the kernel).  A diagnostic: compare versions, not machines.

With ``--floor`` it also counts the floor under any logic: the same calls' Redis commands,
recorded (``SLOWLOG`` on a plain server playing the same calls) and replayed by a Function
with no logic at all, on a second server under callgrind brought to the same state.  The
difference is what the scripts' own Lua costs (parsing, matching, building keys and
replies).  The replaying library holds every recorded command as a literal, so its heap
is larger than the real library's, which if anything raises the floor.
"""

from __future__ import annotations

import argparse
import glob
import os
import random
import re
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import redis
import routing_bench

from routing.engine import Router
from tests.redis_servers import RedisServer, free_port, redis_server_binary


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--operators", type=int, default=300)
    parser.add_argument("--calls", type=int, default=3_000)
    parser.add_argument("--floor", action="store_true", help="also count the commands alone")
    args = parser.parse_args()
    real = measure(args, None)
    print(f"available -> reserved: {real:,.0f} server instructions a call")
    if args.floor:
        commands = record(args)
        floor = measure(args, commands)
        per_call = sum(map(len, commands)) / len(commands)
        print(
            f"the same {per_call:.1f} commands a call, replayed with no logic: {floor:,.0f}"
            f" instructions a call ({floor / real:.2f} of the scripts')"
        )


def play(
    port: int, args: argparse.Namespace, measured: Callable[[Router, list[str]], None]
) -> list[str]:
    """Bring a fresh server to the bench's state, clock held still, then hand the operators
    of the measured round (each just freed by his call's end) to ``measured``."""
    router = routing_bench.make_router(f"redis://127.0.0.1:{port}/0", args.operators, "cg")
    rnd = random.Random(42)
    routing_bench.operators(args.operators, rnd)
    start = 1_700_000_000.0
    router.clock = lambda: start + 1
    for n in range(args.calls):
        router.enqueue(routing_bench.waiting_call(n, rnd, start))
    free = [(o, router.set_operator_state(o, "available")) for o in router.operators]
    for round_ in range(3):
        busy = [(o, a.call_id) for o, a in free if a is not None]
        for _, call_id in busy:
            router.connected(call_id)
            router.ended(call_id)
        ops = [o for o, _ in busy]
        if round_ == 2:
            measured(router, ops)
            return ops
        free = [(o, router.set_operator_state(o, "available")) for o in ops]
    raise AssertionError("unreachable")


def record(args: argparse.Namespace) -> list[list[list[bytes]]]:
    """The Redis commands each "available -> reserved" call of the measured round runs."""
    server = RedisServer().start()
    try:
        client = redis.Redis(port=server.port)

        def measured(router: Router, ops: list[str]) -> None:
            client.config_set("slowlog-max-len", 1_000_000)
            client.config_set("slowlog-log-slower-than", 0)
            client.slowlog_reset()
            for op_id in ops:
                router.set_operator_state(op_id, "available")

        play(server.port, args, measured)
        conn = redis.Connection(port=server.port)  # raw replies: each command's own arguments
        conn.send_command("SLOWLOG", "GET", "-1")
        entries = conn.read_response()
        conn.disconnect()
    finally:
        server.close()
    calls: list[list[list[bytes]]] = []
    current: list[list[bytes]] = []
    for entry in reversed(entries):
        command = entry[3]
        name = command[0].upper()
        if name == b"FCALL":
            calls.append(current)
            current = []
        elif name in (b"SLOWLOG", b"CONFIG"):
            current = []
        else:
            current.append(command)
    return calls


def replay_library(commands: list[list[list[bytes]]]) -> str:
    def literal(arg: bytes) -> str:
        return '"' + "".join(f"\\{b}" for b in arg) + '"'

    calls = ",\n".join(
        "{" + ",".join("{" + ",".join(map(literal, c)) + "}" for c in call) + "}"
        for call in commands
    )
    return (
        f"#!lua name=replay\nlocal CALLS = {{{calls}}}\n"
        "redis.register_function('replay', function(keys, args)\n"
        "  local call = CALLS[tonumber(args[1])]\n"
        "  for i = 1, #call do redis.call(unpack(call[i])) end\n"
        "  return 1\n"
        "end)\n"
    )


def measure(args: argparse.Namespace, commands: list[list[list[bytes]]] | None) -> float:
    """Instructions per call of the measured round: the routing scripts' "available ->
    reserved", or with ``commands``, a Function replaying them."""
    port, workdir = free_port(), tempfile.mkdtemp(prefix="routing-cg-")
    out = os.path.join(workdir, "callgrind.out")
    proc = subprocess.Popen(
        [
            "valgrind", "--tool=callgrind", "--instr-atstart=no", f"--callgrind-out-file={out}",
            redis_server_binary(), "--port", str(port), "--bind", "127.0.0.1", "--save", "",
            "--appendonly", "no", "--dir", workdir,
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )  # fmt: skip

    def control(*flags: str) -> None:
        subprocess.run(
            ["callgrind_control", *flags, str(proc.pid)],
            check=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )

    def measured(router: Router, ops: list[str]) -> None:
        client = redis.Redis(port=port)
        if commands is not None:
            assert len(commands) == len(ops), "the recorded play and this one differ"
            client.function_load(replay_library(commands), replace=True)
        control("-z")
        control("-i", "on")
        for n, op_id in enumerate(ops):
            if commands is None:
                router.set_operator_state(op_id, "available")
            else:
                client.fcall("replay", 1, "{cg}:events", str(n + 1))
        control("-i", "off")
        control("-d")

    try:
        for _ in range(600):
            try:
                redis.Redis(port=port).ping()
                break
            except redis.ConnectionError:
                time.sleep(0.1)
        ops = play(port, args, measured)
        dumps = sorted(glob.glob(out + ".*"), key=os.path.getmtime)
        with open(dumps[-1]) as dump:
            match = re.search(r"^totals:\s+(\d+)", dump.read(), re.MULTILINE)
        assert match, "no totals in the callgrind dump"
        return int(match.group(1)) / len(ops)
    finally:
        proc.terminate()
        proc.wait(30)
        for path in glob.glob(os.path.join(workdir, "*")):
            os.remove(path)
        os.rmdir(workdir)


if __name__ == "__main__":
    main()
