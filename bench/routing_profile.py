"""Where the routing engine's time goes: per-script server time, per-Lua-function time, client.

    python bench/routing_profile.py                 # 10,000 calls, 1,000 operators
    python bench/routing_profile.py --quick --cprofile 20

Runs the workload of ``bench/routing_bench.py`` on a throwaway single server and reports

* server time per script (``SLOWLOG`` with the threshold at 0: every command, scripts and
  the commands they run, with its duration in microseconds);
* with ``--lua FUNC,FUNC``: inclusive time inside named ``lib.lua`` functions, measured with
  ``redis.call("TIME")`` around each call (each wrap adds two ``TIME`` calls, about 1-2 us,
  so compare functions with each other, not with the bench);
* with ``--cprofile N``: the client's N most expensive Python functions (own time).

A diagnostic, not a benchmark: the figures are inflated by the instrumentation.
"""

from __future__ import annotations

import argparse
import collections
import cProfile
import hashlib
import os
import pstats
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import redis
import routing_bench

from routing import scripts
from tests.redis_servers import RedisServer

_PROLOGUE = """
local PROF = {}
local function tnow() local t = redis.call("TIME") return tonumber(t[1]) * 1e6 + tonumber(t[2]) end
local function wrap(name, f)
  return function(...)
    local t0 = tnow()
    local a, b, c = f(...)
    PROF[name] = (PROF[name] or 0) + tnow() - t0
    PROF[name .. " n"] = (PROF[name .. " n"] or 0) + 1
    return a, b, c
  end
end
"""


def instrument(funcs: list[str]) -> None:
    """Make ``routing.scripts`` build instrumented code (scripts and Function library alike):
    the named lib functions and each script body timed, totals in ``prof:<script>``."""
    read = scripts._read

    def instrumented(name: str) -> str:
        text = read(name)
        if name == "lib":
            wraps = "".join(
                f"{f} = wrap('{f}', {f})\n"
                for f in funcs
                if re.search(rf"local function {re.escape(f)}\(", text)
            )
            return text + _PROLOGUE + wraps
        return (
            "local __t0 = tnow()\nPROF = {}\nlocal __r = (function()\n" + text + "\nend)()\n"
            "PROF['script'] = tnow() - __t0\n"
            f"for f, v in pairs(PROF) do redis.call('HINCRBYFLOAT', 'prof:{name}', f, v) end\n"
            f"redis.call('HINCRBY', 'prof:{name}', 'calls', 1)\nreturn __r\n"
        )

    scripts._read = instrumented  # type: ignore[assignment]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="2,000 calls, 200 operators")
    parser.add_argument("--lua", default="", help="lib.lua functions to time, comma-separated")
    parser.add_argument("--cprofile", type=int, default=0, help="show the N top client functions")
    args = parser.parse_args()
    calls, ops = (2_000, 200) if args.quick else (10_000, 1_000)
    funcs = [f for f in args.lua.split(",") if f]
    if funcs:
        instrument(funcs)
    shas = {hashlib.sha1(scripts.source(n).encode()).hexdigest(): n for n in scripts.NAMES}
    libname = scripts.library()[0]
    server = RedisServer().start()
    try:
        admin = redis.Redis.from_url(server.url, decode_responses=True)
        admin.config_set("slowlog-log-slower-than", 0)
        admin.config_set("slowlog-max-len", 1_000_000)
        prof = cProfile.Profile()
        prof.enable()
        result = routing_bench.run("single server", server.url, calls, ops, 60.0)
        prof.disable()
        print(routing_bench.report(result))

        durations: dict[str, list[int]] = collections.defaultdict(list)
        for entry in admin.slowlog_get(1_000_000):
            command = entry["command"]
            if isinstance(command, bytes):
                command = command.decode(errors="replace")
            parts = str(command).split()
            name = parts[0].lower()
            if name == "evalsha" and len(parts) > 1:
                name = "script " + shas.get(parts[1], parts[1][:8])
            elif name == "fcall" and len(parts) > 1:
                name = "function " + parts[1].removeprefix(libname + "_")
            durations[name].append(int(entry["duration"]))
        print("\n== server time per command (SLOWLOG, us)")
        for name, d in sorted(durations.items(), key=lambda kv: -sum(kv[1])):
            d.sort()
            print(
                f"{name:26} n={len(d):7d} total={sum(d) / 1e6:7.2f} s  p50={d[len(d) // 2]:5d}"
                f"  p99={d[int(len(d) * 0.99)]:5d}  max={d[-1]}"
            )
        if funcs:
            print("\n== inside the scripts (us per script call, inclusive; 'n' = calls per call)")
            for key in sorted(admin.keys("prof:*")):
                h = admin.hgetall(key)
                n = int(h.pop("calls"))
                cols = " ".join(f"{k}={float(v) / n:.1f}" for k, v in sorted(h.items()))
                print(f"{key[5:]:18} calls={n:6d} {cols}")
        if args.cprofile:
            print("\n== client (cProfile, own time)")
            pstats.Stats(prof).sort_stats("tottime").print_stats(args.cprofile)
    finally:
        server.close()


if __name__ == "__main__":
    main()
