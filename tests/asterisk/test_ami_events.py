"""The AMI events the engine hears: exactly those it acts on, in the engine and in the
shipped manager.conf alike.

Without a filter Asterisk sends the engine's user every call event of every channel
(``Newchannel``, ``Newstate``, ``NewConnectedLine``, ``MusicOnHoldStart`` ...), a dozen a
call for the engine to parse and drop.  The real-Asterisk tier shows the filter lets
through what the hand-overs, transfers and callbacks need (``DialEnd``, ``Hangup``,
``UserEvent``, ``OriginateResponse``) on Asterisk 22.
"""

from __future__ import annotations

import configparser
import re
from pathlib import Path

from ivr.asterisk.wiring import ENGINE_EVENTS

MANAGER_CONF = Path(__file__).resolve().parents[2] / "dialplans" / "asterisk" / "manager.conf"


def engine_user_filters() -> list[str]:
    conf = configparser.ConfigParser(strict=False, inline_comment_prefixes=(";",), delimiters=("=",),
                                     comment_prefixes=(";",), interpolation=None)
    conf.optionxform = str  # type: ignore[assignment,method-assign]
    conf.read_string(MANAGER_CONF.read_text())
    return [key for key in conf["ivr-engine"] if key.startswith("eventfilter")]


def test_the_shipped_engine_user_hears_exactly_the_events_the_engine_acts_on() -> None:
    filters = engine_user_filters()
    names = set()
    for line in filters:
        found = re.fullmatch(r"eventfilter\(action\(include\),name\((\w+)\)\)", line)
        assert found, f"not a name-only include filter: {line}"
        names.add(found[1])
    assert names == ENGINE_EVENTS
