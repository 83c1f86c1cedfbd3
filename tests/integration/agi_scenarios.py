"""Scripted real calls: a caller (Local channel ;2) against a recording FastAGI server.

Each Scenario becomes one call and one transcript tests/asterisk/transcripts/<name>.txt.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from recording_agi import AgiSession

# Sounds that exist in the chroot's sounds/ru (ru_RU_f_IvrvoiceRU): hello-world (1.0 s),
# beep, vm-intro (5.6 s), demo-congrats (31.3 s), silence/1..10, digits/*.
LONG_SOUND = "demo-congrats"
SHORT_SOUND = "hello-world"
RECORD_PATH = "/var/spool/asterisk/monitor/ivr-test-record"

# What we try on a channel the caller has hung up, to see how each command is answered.
AFTER_HANGUP_PROBES = [
    f'STREAM FILE {SHORT_SOUND} ""',
    "WAIT FOR DIGIT 1000",
    "GET DATA beep 1000 1",
    'SAY DIGITS 1 ""',
    "ANSWER",
    f"EXEC Playback {SHORT_SOUND}",
    "CHANNEL STATUS",
    "GET VARIABLE CALLERID(num)",
    "SET VARIABLE IVR_AFTER_HANGUP 1",
    'VERBOSE "after hangup" 1',
    "NOOP",
]


@dataclass(frozen=True)
class Scenario:
    name: str
    description: str
    script: Callable[[AgiSession], None]
    caller: dict[str, str] = field(default_factory=dict)  # CALLER_* channel variables
    agi_vars: dict[str, str] = field(default_factory=dict)  # e.g. AGI_EXIT_ON_HANGUP
    close_wait: float = 2.0


def _commands(*lines: str, settle: float = 0.0) -> Callable[[AgiSession], None]:
    def script(session: AgiSession) -> None:
        for line in lines:
            session.command(line)
            if settle:
                session.settle(settle)
    return script


def _then_probe(*lines: str, settle: float = 1.0) -> Callable[[AgiSession], None]:
    """Run lines (the last one is expected to be cut by the hang-up), then probe."""
    def script(session: AgiSession) -> None:
        for line in lines:
            session.command(line)
        session.settle(settle)
        for probe in AFTER_HANGUP_PROBES:
            if session.closed_by_asterisk:
                break
            session.command(probe, timeout=10.0)
    return script


def _idle_until_hangup(session: AgiSession) -> None:
    session.command("ANSWER")
    deadline = time.monotonic() + 5.0
    while not session.hangup_seen and not session.closed_by_asterisk and time.monotonic() < deadline:
        time.sleep(0.05)
    session.settle(0.5)
    session.command("NOOP", timeout=10.0)
    session.command("WAIT FOR DIGIT 1000", timeout=10.0)


SCENARIOS: list[Scenario] = [
    Scenario("env_and_answer", "AGI environment block, then ANSWER",
             _commands("ANSWER"), caller={"CALLER_WAIT": "3"},
             agi_vars={"AGI_ARG1": "menu", "AGI_ARG2": "ru"}),
    Scenario("stream_file_interrupted", "STREAM FILE with escape digits, caller presses 5 at ~1 s",
             _commands("ANSWER", f'STREAM FILE {LONG_SOUND} "0123456789*#"'),
             caller={"CALLER_DTMF": "5", "CALLER_WAIT": "5"}),
    Scenario("stream_file_complete", "STREAM FILE played to the end; then a missing file",
             _commands("ANSWER", f'STREAM FILE {SHORT_SOUND} "#"',
                       'STREAM FILE no-such-sound-ivr "#"', f"STREAM FILE {SHORT_SOUND} \"\" 4000"),
             caller={"CALLER_WAIT": "6"}),
    Scenario("get_data_digits", "GET DATA, caller enters 1234 (max 4 digits)",
             _commands("ANSWER", "GET DATA beep 5000 4"),
             caller={"CALLER_DTMF": "1234", "CALLER_WAIT": "5"}),
    Scenario("get_data_terminated", "GET DATA, caller enters 12# (max 6 digits)",
             _commands("ANSWER", "GET DATA beep 5000 6"),
             caller={"CALLER_DTMF": "12#", "CALLER_WAIT": "5"}),
    Scenario("get_data_timeout", "GET DATA with no input: timeout",
             _commands("ANSWER", "GET DATA beep 2000 4"), caller={"CALLER_WAIT": "6"}),
    Scenario("wait_for_digit", "WAIT FOR DIGIT: caller presses 7; then a timeout",
             _commands("ANSWER", "WAIT FOR DIGIT 5000", "WAIT FOR DIGIT 1000"),
             caller={"CALLER_DTMF": "7", "CALLER_WAIT": "5"}),
    Scenario("say_digits_ru", "SAY DIGITS with CHANNEL(language)=ru",
             _commands("ANSWER", "SET VARIABLE CHANNEL(language) ru",
                       "GET FULL VARIABLE ${CHANNEL(language)}", 'SAY DIGITS 987654321 "9"',
                       'SAY DIGITS 1205 ""', 'SAY NUMBER 21 ""'),
             caller={"CALLER_PRE_WAIT": "1.5", "CALLER_DTMF": "9", "CALLER_WAIT": "8"}),
    Scenario("record_file_timeout", "RECORD FILE, caller silent (no audio frames): timeout",
             _commands("ANSWER", f"RECORD FILE {RECORD_PATH}-timeout wav # 3000 0 BEEP s=2"),
             caller={"CALLER_WAIT": "8"}),
    Scenario("record_file_silence", "RECORD FILE, caller sends silence audio: silence detection",
             _commands("ANSWER", f"RECORD FILE {RECORD_PATH}-silence wav # 8000 0 s=2"),
             caller={"CALLER_PRE_WAIT": "0.2", "CALLER_PLAY": "silence/10", "CALLER_WAIT": "3"}),
    Scenario("record_file_dtmf", "RECORD FILE ended by caller pressing # (no audio sent)",
             _commands("ANSWER", f"RECORD FILE {RECORD_PATH}-dtmf wav # 10000 0 BEEP"),
             caller={"CALLER_PRE_WAIT": "2", "CALLER_DTMF": "#", "CALLER_WAIT": "5"}),
    Scenario("record_file_speech_then_hangup",
             "RECORD FILE while the caller speaks (plays vm-intro, 5.6 s) and hangs up",
             _commands("ANSWER", f"RECORD FILE {RECORD_PATH}-speech wav # 20000 0 s=3",
                       "GET VARIABLE RECORD_STATUS"),
             caller={"CALLER_PRE_WAIT": "0.5", "CALLER_PLAY": "vm-intro", "CALLER_WAIT": "0"},
             close_wait=3.0),
    Scenario("set_get_variable", "SET VARIABLE / GET VARIABLE / GET FULL VARIABLE",
             _commands("ANSWER", 'SET VARIABLE IVR_STEP "menu 1"', "GET VARIABLE IVR_STEP",
                       "GET VARIABLE IVR_UNSET", "GET FULL VARIABLE ${IVR_STEP}-${CALLERID(num)}",
                       "CHANNEL STATUS"),
             caller={"CALLER_WAIT": "4"}),
    Scenario("exec_apps", "EXEC of applications (Playback, MOH, unknown app)",
             _commands("ANSWER", f"EXEC Playback {SHORT_SOUND}", "EXEC StartMusicOnHold default",
                       "EXEC Wait 1", "EXEC StopMusicOnHold", "EXEC NoSuchAppIvr x",
                       'EXEC Set "IVR_X=a,b"', "GET VARIABLE IVR_X"),
             caller={"CALLER_WAIT": "8"}),
    Scenario("invalid_and_usage", "510 for an unknown command, 520 usage replies",
             _commands("ANSWER", "FOO BAR", "STREAM FILE", "WAIT FOR DIGIT", "GET DATA"),
             caller={"CALLER_WAIT": "4"}),
    Scenario("hangup_during_stream_file", "caller hangs up ~2 s into a 31 s STREAM FILE",
             _then_probe("ANSWER", f'STREAM FILE {LONG_SOUND} "0123456789*#"'),
             caller={"CALLER_PRE_WAIT": "2", "CALLER_WAIT": "0"}, close_wait=5.0),
    Scenario("hangup_during_playback", "caller hangs up ~2 s into EXEC Playback of two files (31 s, then 1 s)",
             _then_probe("ANSWER", f"EXEC Playback {LONG_SOUND}&{SHORT_SOUND}"),
             caller={"CALLER_PRE_WAIT": "2", "CALLER_WAIT": "0"}, close_wait=5.0),
    Scenario("hangup_during_wait_for_digit", "caller hangs up ~2 s into WAIT FOR DIGIT 10000",
             _then_probe("ANSWER", "WAIT FOR DIGIT 10000"),
             caller={"CALLER_PRE_WAIT": "2", "CALLER_WAIT": "0"}, close_wait=5.0),
    Scenario("hangup_during_get_data", "caller hangs up ~2 s into GET DATA (after 1 digit)",
             _then_probe("ANSWER", "GET DATA beep 10000 4"),
             caller={"CALLER_PRE_WAIT": "1", "CALLER_DTMF": "1", "CALLER_WAIT": "1"},
             close_wait=5.0),
    Scenario("hangup_during_record_file", "caller hangs up ~2 s into RECORD FILE",
             _then_probe("ANSWER", f"RECORD FILE {RECORD_PATH}-hangup wav # 10000 0 BEEP"),
             caller={"CALLER_PRE_WAIT": "2", "CALLER_WAIT": "0"}, close_wait=5.0),
    Scenario("hangup_while_idle", "caller hangs up while the AGI server is between commands",
             _idle_until_hangup, caller={"CALLER_PRE_WAIT": "1", "CALLER_WAIT": "0"},
             close_wait=30.0),
    Scenario("hangup_during_stream_file_exit_on_hangup",
             "as hangup_during_stream_file, with AGIEXITONHANGUP=yes on the channel",
             _then_probe("ANSWER", f'STREAM FILE {LONG_SOUND} "0123456789*#"'),
             caller={"CALLER_PRE_WAIT": "2", "CALLER_WAIT": "0"},
             agi_vars={"AGI_EXIT_ON_HANGUP": "yes"}, close_wait=5.0),
    Scenario("agi_hangup_command", "the AGI server hangs the channel up itself (HANGUP command)",
             _then_probe("ANSWER", "HANGUP", settle=1.0), caller={"CALLER_WAIT": "10"},
             close_wait=5.0),
]

SCENARIOS_BY_NAME = {s.name: s for s in SCENARIOS}
