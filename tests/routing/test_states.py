"""The allowed call states and moves are written once (routing/states.py); the Lua reads
them from there.  Read back from a live Redis, so a hand-edited table in Lua, or a script
that compares states itself, fails here."""

from __future__ import annotations

import json
import re
from importlib import resources
from typing import Any

from routing import states
from routing.scripts import NAMES, _read, library, source

#: The scripts that perform call events, and the moves each performs.
EVENT_SCRIPTS = {
    "connected": ("connected",),
    "ended": ("ended",),
    "abandon": ("abandon",),
    "missed": ("missed",),
    "request_callback": ("request_callback",),
    "callback_result": ("callback_answered", "callback_not_answered"),
    "transfer": ("transfer", "transfer_to_operator"),
    "transfer_failed": ("transfer_failed",),
    "consult": ("consult", "consult_complete", "consult_cancel"),
}


CALL_WORDS = ("waiting", "reserved", "connected", "abandoned", "callback", "overflowed", "gone", "call")


def _raw(name: str) -> str:
    return resources.files("routing.scripts").joinpath(f"{name}.lua").read_text()


def test_the_lua_table_on_the_server_is_the_python_one(redis: Any) -> None:
    probe = _read("lib") + "\nbegin(ARGV)\nreturn cjson.encode({moves = MOVES, staffed = STAFFED})\n"
    got = json.loads(redis.eval(probe, 1, "{probe}:x", "{probe}", "0", "2026-01-01\t20\t60\t100\t180\t"))
    want = {
        name: {
            "to": m.to,
            "start": {x: True for x in m.start},
            "kinds": {x: True for x in m.kinds},
            "done": {x: True for x in m.done},
        }
        for name, m in states.MOVES.items()
    }
    # cjson writes an empty Lua table as {} (an object): the same as an empty set here.
    assert got["moves"] == want
    assert set(got["staffed"]) == set(states.STAFFED)


def test_every_loaded_script_carries_the_rendered_table() -> None:
    table = states.lua_table()
    assert "--@STATES@" not in _read("lib")
    assert table in library(NAMES)[1]
    for name in NAMES:
        assert table in source(name)


def test_the_lua_sources_spell_no_state_table_of_their_own() -> None:
    lib = _raw("lib")
    assert "--@STATES@" in lib
    assert not re.search(r"\bSTAFFED\s*=", lib) and not re.search(r"\bMOVES\s*=", lib)
    for script, moves in EVENT_SCRIPTS.items():
        # (a line answering "unknown" tells what the id names, not where it stands)
        body = "\n".join(x for x in _raw(script).splitlines() if '{"unknown"}' not in x)
        for move in moves:
            assert f'may("{move}"' in body, (script, move)
        # No hand-written refusal: r[1] ~= "reserved", r[2] ~= "call" and the like.
        assert not re.search(r'~=\s*"(' + "|".join(CALL_WORDS) + ')"', body), script
    assert set(states.MOVES) == {m for moves in EVENT_SCRIPTS.values() for m in moves}
