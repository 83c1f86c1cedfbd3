"""The pure AGI wire layer: replies, the environment block, command quoting."""

from __future__ import annotations

import pytest

from ivr.asterisk.agi import (
    MAX_LINE,
    AgiCommandFailed,
    AgiDeadChannel,
    AgiHangup,
    AgiInvalidCommand,
    AgiProtocolError,
    AgiUsage,
    EnvReader,
    ReplyReader,
    format_command,
    parse_env,
    parse_success,
    quote,
)
from ivr.asterisk.peer import split_args


def feed_all(lines: list[str]):  # type: ignore[no-untyped-def]
    reader = ReplyReader()
    for line in lines:
        reply = reader.feed(line)
        if reply is not None:
            return reply
    return None


@pytest.mark.parametrize(
    ("line", "result", "data", "key", "endpos"),
    [
        ("200 result=0", "0", "", "", None),
        ("200 result=53 endpos=9760", "53", "", "5", 9760),
        ("200 result=55", "55", "", "7", None),
        ("200 result= (timeout)", "", "timeout", "", None),
        ("200 result=1234", "1234", "", "", None),
        ("200 result=1 (menu 1)", "1", "menu 1", "", None),
        ("200 result=1 (menu 1-79990000001)", "1", "menu 1-79990000001", "", None),
        ("200 result=35 (dtmf) endpos=0", "35", "dtmf", "#", 0),
        ("200 result=5329 (timeout) endpos=8160", "5329", "timeout", "", 8160),
        ("200 result=-2", "-2", "", "", None),
        # issue 20's attack: a peer's non-ASCII digits are no number (endpos=² raised)
        ("200 result=53 endpos=²", "53", "", "5", None),
        ("200 result=53 endpos=" + "9" * 5000, "53", "", "5", None),
    ],
)
def test_success_replies(line: str, result: str, data: str, key: str, endpos: int | None) -> None:
    reply = parse_success(line)
    assert (reply.code, reply.result, reply.data, reply.key, reply.endpos) == (200, result, data, key, endpos)


def test_result_minus_one_without_hangup_is_a_failed_command() -> None:
    with pytest.raises(AgiCommandFailed) as info:
        feed_all(["200 result=-1 endpos=0"])
    assert info.value.reply is not None and info.value.reply.endpos == 0


def test_hangup_line_before_reply_turns_failure_into_hangup() -> None:
    with pytest.raises(AgiHangup):
        feed_all(["HANGUP", "200 result=-1"])
    with pytest.raises(AgiHangup):
        feed_all(["HANGUP", "511 Command Not Permitted on a dead channel or intercept routine"])


def test_hangup_line_while_idle_is_noted_and_reply_read() -> None:
    reader = ReplyReader()
    assert reader.feed("HANGUP") is None
    reply = reader.feed("200 result=0")
    assert reply is not None and reply.result == "0" and reader.hangup_seen


def test_error_replies() -> None:
    with pytest.raises(AgiInvalidCommand):
        feed_all(["510 Invalid or unknown command"])
    with pytest.raises(AgiDeadChannel):
        feed_all(["511 Command Not Permitted on a dead channel or intercept routine"])
    with pytest.raises(AgiUsage) as usage:
        feed_all([
            "520-Invalid command syntax.  Proper usage follows:",
            "Stream the given <replaceable>file</replaceable>, and receive DTMF data.",
            "Returns the digits received from the channel at the other end.",
            "520 End of proper usage.",
        ])
    assert usage.value.reply is not None and len(usage.value.reply.lines) == 4


@pytest.mark.parametrize("line", ["garbage", "\x07\xff", "200 result", "200 result=1 trailing junk", "99 x", ""])
def test_malformed_lines(line: str) -> None:
    with pytest.raises(AgiProtocolError):
        feed_all([line])


def test_over_long_line() -> None:
    with pytest.raises(AgiProtocolError):
        feed_all(["200 result=0 (" + "x" * MAX_LINE + ")"])


def test_env_block() -> None:
    env = parse_env(["agi_network: yes", "agi_callerid: 79990000001", "agi_accountcode: ", ""])
    assert env == {"agi_network": "yes", "agi_callerid": "79990000001", "agi_accountcode": ""}
    with pytest.raises(AgiProtocolError):
        parse_env(["not an env line", ""])
    with pytest.raises(AgiProtocolError):
        EnvReader().feed("")


@pytest.mark.parametrize("value", ["ru", "menu 1", 'say "hi"', "back\\slash", "", "a,b", "ИНН 500100732259"])
def test_quote_round_trips_through_asterisks_parser(value: str) -> None:
    line = format_command("SET VARIABLE", "IVR_X", value)
    assert split_args(line[len("SET VARIABLE"):]) == ["IVR_X", value]


def test_quote_refuses_line_breaks() -> None:
    with pytest.raises(ValueError):
        quote("a\nHANGUP")
    assert format_command("SET VARIABLE", "IVR_STEP", "menu 1") == 'SET VARIABLE IVR_STEP "menu 1"'
