"""Each pyst2 defect met against a real Asterisk 22: raw pyst2 first, then our wrapper.

The raw half proves the workaround is needed; the lines fed are verbatim from
tests/asterisk/transcripts/.
"""

from __future__ import annotations

import importlib
import io
import signal
import threading
from collections.abc import Iterator

import pytest
from asterisk.agi import AGI, AGIAppError

from ivr.asterisk.agi import AgiCommandFailed, AgiDeadChannel, AgiHangup, AgiUsage
from ivr.asterisk.pyst import HotlineAgi

ENV = "agi_network: yes\nagi_uniqueid: 1795312804.30\nagi_callerid: 79990000001\n\n"


@pytest.fixture
def raw_agi() -> Iterator[callable]:  # type: ignore[valid-type]
    """Raw pyst2 over in-memory streams (it installs a SIGHUP handler: restored after)."""
    old = signal.getsignal(signal.SIGHUP)

    def make(replies: str) -> AGI:
        return AGI(stdin=io.StringIO(ENV + replies), stdout=io.StringIO(), stderr=io.StringIO())

    yield make
    signal.signal(signal.SIGHUP, old)


def ours(replies: list[str]) -> HotlineAgi:
    lines = iter(replies)
    out = io.StringIO()
    return HotlineAgi(read_line=lambda: next(lines), line_within=lambda s: True, writer=out,
                      env={"agi_uniqueid": "1"})


def test_fastagi_module_is_python2_only() -> None:
    with pytest.raises(ModuleNotFoundError, match="SocketServer"):
        importlib.import_module("asterisk.fastagi")


def test_raw_agi_cannot_be_built_off_the_main_thread() -> None:
    errors: list[BaseException] = []

    def build() -> None:
        try:
            AGI(stdin=io.StringIO(ENV), stdout=io.StringIO(), stderr=io.StringIO())
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    t = threading.Thread(target=build)
    t.start()
    t.join()
    assert isinstance(errors[0], ValueError) and "main thread" in str(errors[0])
    # ours is built in any thread and touches no signal handler
    built: list[HotlineAgi] = []
    t = threading.Thread(target=lambda: built.append(ours([])))
    t.start()
    t.join()
    assert built and signal.getsignal(signal.SIGHUP) is not None


def test_raw_agi_spams_stderr(raw_agi) -> None:  # type: ignore[no-untyped-def]
    agi = raw_agi("")
    assert "ENV LINE" in agi.stderr.getvalue()


def test_hangup_during_a_command(raw_agi) -> None:  # type: ignore[no-untyped-def]
    # hangup_during_stream_file.txt: "200 result=-1 endpos=16160", then "HANGUP"
    agi = raw_agi("200 result=-1 endpos=16160\nHANGUP\n511 Command Not Permitted on a dead channel or intercept routine\n")
    with pytest.raises(AGIAppError):  # indistinguishable from any failure
        agi.stream_file("demo-congrats", "0123456789*#")
    with pytest.raises(ValueError):  # reads "HANGUP" as the next command's result
        agi.wait_for_digit(1000)
    # ours: one AgiHangup, at the command that was cut
    with pytest.raises(AgiHangup):
        ours(["200 result=-1 endpos=16160", "HANGUP"]).stream_file("demo-congrats", "0123456789*#")


def test_failed_command_is_not_a_hangup() -> None:
    # stream_file_complete.txt: a missing file is "200 result=-1 endpos=0" and no HANGUP
    agi = HotlineAgi(read_line=iter(["200 result=-1 endpos=0"]).__next__, line_within=lambda s: False,
                     writer=io.StringIO(), env={})
    with pytest.raises(AgiCommandFailed):
        agi.stream_file("no-such-sound-ivr", "#")


def test_hangup_while_idle_then_a_reply() -> None:
    # hangup_while_idle.txt: "HANGUP" arrives between commands; NOOP still gets "200 result=0"
    with pytest.raises(AgiHangup):
        ours(["HANGUP", "200 result=0"]).noop()


def test_dead_channel_and_usage_replies(raw_agi) -> None:  # type: ignore[no-untyped-def]
    agi = raw_agi("511 Command Not Permitted on a dead channel or intercept routine\n")
    with pytest.raises(Exception) as raw:
        agi.wait_for_digit(1000)
    assert not isinstance(raw.value, AgiDeadChannel)  # pyst2: AGIUnknownError(511, ...)
    with pytest.raises(AgiDeadChannel):
        ours(["511 Command Not Permitted on a dead channel or intercept routine"]).wait_for_digit(1000)
    with pytest.raises(AgiUsage):
        ours(["520-Invalid command syntax.  Proper usage follows:", "Usage.",
              "520 End of proper usage."]).wait_for_digit(1000)


def test_record_file_results_are_characters(raw_agi) -> None:  # type: ignore[no-untyped-def]
    agi = raw_agi("200 result=0 (timeout) endpos=0\n200 result=5329 (timeout) endpos=8160\n")
    assert agi.record_file("/tmp/x", "wav") == "\x00"  # record_file_timeout.txt
    assert agi.record_file("/tmp/x", "wav") == chr(5329)  # record_file_silence.txt


def test_stream_file_not_interrupted_is_empty_string(raw_agi) -> None:  # type: ignore[no-untyped-def]
    agi = raw_agi("200 result=0 endpos=8023\n")
    assert agi.stream_file("hello-world", "#") == ""


def test_quote_does_not_escape(raw_agi) -> None:  # type: ignore[no-untyped-def]
    agi = raw_agi("")
    assert agi._quote('say "hi"') == '"say "hi""'  # Asterisk would read three arguments
    assert ours([])._quote('say "hi"') == '"say \\"hi\\""'


# -- the two passes the event loop runs pyst2 in (ivr.asterisk.pyst, "Two passes") -----------


def test_dry_run_gives_pyst2s_line_and_replay_gives_its_value() -> None:
    from ivr.asterisk.agi import parse_success

    agi = HotlineAgi(env={})
    line = agi.command_line(agi.stream_file, "ivr/ru/welcome", "0123456789*#")
    assert line == 'STREAM FILE ivr/ru/welcome "0123456789*#" 0'
    # stream_file_interrupted.txt: key 5
    assert agi.replay(agi.stream_file, ("ivr/ru/welcome", "0123456789*#"), line,
                      parse_success("200 result=53 endpos=9760")) == "5"
    line = agi.command_line(agi.record_file, "/tmp/x", "wav", "#", 6000, 0, "BEEP", 2)
    assert line == 'RECORD FILE "/tmp/x" wav "#" 6000 0 BEEP s=2'
    assert agi.replay(agi.record_file, ("/tmp/x", "wav", "#", 6000, 0, "BEEP", 2), line,
                      parse_success("200 result=0 (timeout) endpos=0")) == "\x00"  # record_file_timeout.txt
    line = agi.command_line(agi.appexec, "NoSuchApp")
    with pytest.raises(AGIAppError):  # exec_apps.txt: "200 result=-2", pyst2's own check
        agi.replay(agi.appexec, ("NoSuchApp",), line, parse_success("200 result=-2"))


def test_dry_run_refuses_what_is_not_one_command() -> None:
    from ivr.asterisk.agi import parse_success

    agi = HotlineAgi(env={})
    line = agi.command_line(agi.goto_on_exit, "hotline", "s", "1")  # SET CONTEXT, EXTENSION, PRIORITY
    assert line == "SET CONTEXT hotline"
    with pytest.raises(RuntimeError, match="on replay"):
        agi.replay(agi.goto_on_exit, ("hotline", "s", "1"), line, parse_success("200 result=0"))
    with pytest.raises(RuntimeError, match="on replay"):
        agi.replay(agi.wait_for_digit, (1000,), "WAIT FOR DIGIT 2000", parse_success("200 result=0"))


def test_dry_run_after_a_hangup_raises_before_sending() -> None:
    agi = HotlineAgi(env={})
    agi.replies.feed("HANGUP")
    with pytest.raises(AgiHangup):
        agi.command_line(agi.noop)
