"""Server instructions per assignment: redis-server under callgrind, counted, not timed.

    python bench/routing_instructions.py          # needs valgrind (apt install valgrind)

Timings on this shared 2-vCPU machine move by 30 % from one run to the next; instruction
counts do not, so a change to the Lua scripts can be judged by one run of each version.
Plays the assignment phase of ``bench/routing_bench.py`` (300 operators, 3,000 calls, the
clock held still) against a ``redis-server`` run by ``valgrind --tool=callgrind`` with
instrumentation off, switches it on for one round of "available -> reserved", and prints
the instructions the server executed per call (parsing the request, the whole script,
writing the reply; not the kernel).  A diagnostic: compare versions, not machines.
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

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import redis
import routing_bench

from tests.redis_servers import free_port, redis_server_binary


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--operators", type=int, default=300)
    parser.add_argument("--calls", type=int, default=3_000)
    args = parser.parse_args()
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

    try:
        for _ in range(600):
            try:
                redis.Redis(port=port).ping()
                break
            except redis.ConnectionError:
                time.sleep(0.1)
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
            if round_ == 2:
                control("-z")
                control("-i", "on")
            free = [(o, router.set_operator_state(o, "available")) for o, _ in busy]
        control("-i", "off")
        control("-d")
        dumps = sorted(glob.glob(out + ".*"), key=os.path.getmtime)
        with open(dumps[-1]) as dump:
            match = re.search(r"^totals:\s+(\d+)", dump.read(), re.MULTILINE)
        assert match, "no totals in the callgrind dump"
        assigned = sum(1 for _, a in free if a is not None)
        print(
            f"available -> reserved: {int(match.group(1)) / len(busy):,.0f} server instructions"
            f" a call ({len(busy)} calls, {assigned} reserved at once)"
        )
    finally:
        proc.terminate()
        proc.wait(30)
        for path in glob.glob(os.path.join(workdir, "*")):
            os.remove(path)
        os.rmdir(workdir)


if __name__ == "__main__":
    main()
