"""The harness against a real Asterisk 22: boot, a Local call into FastAGI, hang-ups."""

from __future__ import annotations

import dataclasses

import pytest
from agi_calls import call_and_record
from agi_scenarios import SCENARIOS_BY_NAME
from ami_client import AmiClient
from asterisk_harness import AsteriskHarness
from recording_agi import RecordingAgiServer
from transcript_format import load_transcript, normalise, parse_transcript

pytestmark = pytest.mark.asterisk


def test_asterisk_boots_from_our_config(asterisk: AsteriskHarness) -> None:
    assert asterisk.version().startswith("Asterisk 22.")
    assert "ivr-test-agi" in asterisk.cli("dialplan show ivr-test-agi")
    modules = asterisk.cli("module show like res_agi")
    assert "res_agi.so" in modules and "Running" in modules
    # autoload=no: modules not in our list stay out.
    assert "0 modules loaded" in asterisk.cli("module show like app_voicemail")
    assert "127.0.0.1:5060" in asterisk.cli("pjsip show transports")


def test_ami_login_and_ping(ami: AmiClient) -> None:
    assert ami.banner.startswith("Asterisk Call Manager/")
    assert ami.action("Ping")["Response"] == "Success"


def test_local_call_reaches_recording_fastagi(
    asterisk: AsteriskHarness, ami: AmiClient, agi_recorder: RecordingAgiServer
) -> None:
    session = call_and_record(asterisk, ami, agi_recorder, SCENARIOS_BY_NAME["env_and_answer"])

    recorded = load_transcript("env_and_answer")
    assert list(session.env) == list(recorded.env), "env keys/order differ from the recording"
    assert session.env["agi_network"] == "yes"
    assert session.env["agi_network_script"] == "env_and_answer"
    assert session.env["agi_callerid"] == "79990000001"
    assert session.env["agi_language"] == "ru"
    assert session.env["agi_channel"].startswith("Local/")
    assert session.env["agi_channel"].endswith(";1")
    assert (session.env["agi_arg_1"], session.env["agi_arg_2"]) == ("menu", "ru")
    assert parse_transcript(session.transcript()).exchange == [">> ANSWER", "<< 200 result=0"]


@pytest.mark.parametrize("name", ["hangup_during_stream_file", "hangup_during_wait_for_digit",
                                  "hangup_during_playback"])
def test_hangup_sequence_is_as_recorded(
    name: str, asterisk: AsteriskHarness, ami: AmiClient, agi_recorder: RecordingAgiServer
) -> None:
    scenario = dataclasses.replace(SCENARIOS_BY_NAME[name], close_wait=1.0)
    session = call_and_record(asterisk, ami, agi_recorder, scenario)

    live = parse_transcript(session.transcript())
    assert normalise(live.exchange) == normalise(load_transcript(name).exchange)
    assert session.hangup_seen
    assert not session.closed_by_asterisk, "Asterisk closed the FastAGI socket after HANGUP"
