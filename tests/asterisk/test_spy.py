"""Supervisor listen / whisper / barge: the AMI actions AsteriskControl sends, and how it
reads Asterisk's refusals (over a loopback AMI server speaking Asterisk 22's wire format;
tests/integration/test_supervision_real.py runs the same against the real Asterisk)."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from ivr.aftermenu.control import CallNotLive, TelephonyFailed
from ivr.aftermenu.legs import Legs
from ivr.asterisk.ami import AmiClient
from ivr.asterisk.control import AsteriskControl
from ivr.asterisk.spy import HANDLE_PREFIX, SpyWatcher
from tests.asterisk.ami_double import AmiDouble

LEGS = Legs("1711111111.7", "asterisk", "op101", caller="PJSIP/trunk-00000001", operator="PJSIP/op101-00000002",
            since=0.0)


@pytest.fixture()
def ami() -> Iterator[AmiDouble]:
    double = AmiDouble()
    yield double
    double.close()


@pytest.fixture()
def control(ami: AmiDouble) -> Iterator[AsteriskControl]:
    client = AmiClient(*ami.address, username="ivr-engine", secret="s3cret", timeout=5)
    yield AsteriskControl(ami=client)
    client.close()


@pytest.mark.parametrize(("mode", "options"), [("listen", "quES"), ("whisper", "quESw"), ("barge", "quESB")])
def test_the_supervisor_is_rung_into_chanspy_on_the_operator_channel(
    ami: AmiDouble, control: AsteriskControl, mode: str, options: str
) -> None:
    handle = control.spy(LEGS, "PJSIP/sup201", mode)  # type: ignore[arg-type]
    getvar, originate = ami.actions[1:]
    assert (getvar["Action"], getvar["Channel"], getvar["Variable"]) == ("Getvar", "PJSIP/op101-00000002",
                                                                         "CHANNEL(name)")
    assert handle.startswith(HANDLE_PREFIX) and len(handle) == len(HANDLE_PREFIX) + 32
    assert {k: v for k, v in originate.items() if k != "ActionID"} == {
        "Action": "Originate", "Channel": "PJSIP/sup201", "Application": "ChanSpy",
        "Data": f"PJSIP/op101-00000002,{options}", "ChannelId": handle,
        "CallerID": "Hotline supervision <88005553535>", "Timeout": "30000", "Async": "true"}


def test_each_start_has_its_own_handle(control: AsteriskControl) -> None:
    assert control.spy(LEGS, "PJSIP/sup201", "listen") != control.spy(LEGS, "PJSIP/sup201", "listen")


def test_an_operator_channel_that_is_gone_is_not_live_and_no_phone_rings(ami: AmiDouble,
                                                                          control: AsteriskControl) -> None:
    ami.reply = lambda action: "No such channel" if action["Action"] == "Getvar" else None
    with pytest.raises(CallNotLive):
        control.spy(LEGS, "PJSIP/sup201", "whisper")
    assert ami.named("Originate") == []


def test_an_originate_refused_is_a_telephony_failure(ami: AmiDouble, control: AsteriskControl) -> None:
    ami.reply = lambda action: "Originate failed" if action["Action"] == "Originate" else None
    with pytest.raises(TelephonyFailed, match="Originate"):
        control.spy(LEGS, "PJSIP/sup201", "listen")


@pytest.mark.parametrize("endpoint", ["PJSIP/sup201,quESB", "PJSIP/sup 201", "sup201", "PJSIP/sup201)"])
def test_a_dial_string_that_would_change_chanspy_arguments_is_refused_before_any_action(
    ami: AmiDouble, control: AsteriskControl, endpoint: str
) -> None:
    with pytest.raises(TelephonyFailed):
        control.spy(LEGS, endpoint, "listen")
    assert [a["Action"] for a in ami.actions] == ["Login"]


def test_stopping_hangs_up_the_handle_and_a_leg_already_gone_is_stopped(ami: AmiDouble,
                                                                        control: AsteriskControl) -> None:
    handle = control.spy(LEGS, "PJSIP/sup201", "barge")
    control.stop_spying(LEGS, handle)
    assert ami.named("Hangup")[-1]["Channel"] == handle
    ami.reply = lambda action: "No such channel" if action["Action"] == "Hangup" else None
    control.stop_spying(LEGS, handle)  # the supervisor put the phone down first: nothing to do
    ami.reply = lambda action: "Permission denied" if action["Action"] == "Hangup" else None
    with pytest.raises(TelephonyFailed, match="Hangup"):
        control.stop_spying(LEGS, handle)
    with pytest.raises(TelephonyFailed):
        control.stop_spying(LEGS, "PJSIP/op101-00000002")  # never another channel than a handle of ours
    assert ami.named("Hangup")[-1]["Channel"] == handle


def test_the_hangup_of_a_supervisor_leg_is_reported_with_its_handle(ami: AmiDouble) -> None:
    ended: list[tuple[str, str]] = []
    watcher = SpyWatcher(ended=lambda handle, cause: ended.append((handle, cause)))
    client = AmiClient(*ami.address, username="ivr-engine", secret="s3cret", timeout=5, on_event=watcher.on_event)
    try:
        ami.event({"Event": "Hangup", "Channel": "PJSIP/op101-00000002", "Uniqueid": "1711111111.9",
                   "Cause": "16", "Cause-txt": "Normal Clearing"})
        ami.event({"Event": "Newstate", "Channel": "PJSIP/sup201-00000007", "Uniqueid": "ivr-spy-ab"})
        ami.event({"Event": "Hangup", "Channel": "PJSIP/sup201-00000007", "Uniqueid": "ivr-spy-ab",
                   "Cause": "16", "Cause-txt": "Normal Clearing"})
        deadline = time.monotonic() + 5
        while not ended and time.monotonic() < deadline:
            time.sleep(0.02)
    finally:
        client.close()
    assert ended == [("ivr-spy-ab", "Normal Clearing")]
