"""Calls over loopback TCP: the fake Asterisk dials the real FastAGI server."""

from __future__ import annotations

import os
import socket
import threading
import time

import pytest
from fake_asterisk import FakeCall, ScriptedCaller
from harness import SETTINGS, Harness
from world import World

from ivr.asterisk.peer import default_env
from ivr.identity import corrupt_checksum, synthetic_inn

INN = synthetic_inn(7)  # 12 digits, then "#" as the prompt asks (taken within 2 s)
WRONG_INN = corrupt_checksum(INN)


def commands(call: FakeCall) -> list[str]:
    return [line[3:] for line in call.transcript if line.startswith(">> ")]


def ended(h: Harness, call_id: str = "1795312804.30"):  # type: ignore[no-untyped-def]
    h.wait_idle()
    return h.world.ended[call_id]


def test_full_walk_wrong_inn_corrected_topic_consent_queue_callback(harness: Harness) -> None:
    keys = "1" + WRONG_INN + "#" + INN + "#" + "," * 14 + "1" + "4" + "1" + "," * 18 + "1" + "1"
    #     lang  wrong ИНН        ИНН        listen (readback: 12 digits), "верно"  payments consent
    #     listen (the appeal number: 11, position, 4 minutes, offer)  callback "number right"
    call = FakeCall(caller=ScriptedCaller(keys)).run(harness.address)
    sent = commands(call)
    assert call.closed_by_server
    assert sent[0] == 'SET VARIABLE "IVR_APPEAL" "2026000001"'  # the channel is Russian already
    assert any(c.startswith("RECORD FILE ") for c in sent)  # the spoken name (speech off)
    assert "STREAM FILE ivr/ru/invalid.checksum \"0123456789*#\" 0" in sent
    readback = [f'STREAM FILE ivr/ru/number.{d} "12" 0' for d in INN]  # only the confirm keys cut it short
    start = sent.index(readback[0])
    assert sent[start:start + len(readback)] == readback  # the readback, digit by digit
    assert 'SET VARIABLE "IVR_QUEUE" "payments"' in sent
    assert 'STREAM FILE ivr/ru/number.3 "1" 0' in sent  # position in queue; only the callback key cuts it short
    assert sent[-1] == "HANGUP"
    ctx = ended(harness)
    assert (ctx.inn, ctx.topic, ctx.outcome) == (INN, "payments", "callback")
    assert ctx.consent is not None and ctx.consent.granted
    assert ctx.callback_number == "+79990000001"
    assert harness.world.callbacks == [("1795312804.30", "+79990000001")]
    assert [s.failures for s in ctx.path if s.node == "ask_number"] == [("checksum",)]
    assert harness.results[0].ended_by == "hangup"


def test_operator_hand_over_sets_dialplan_variables(menu) -> None:  # type: ignore[no-untyped-def]
    h = Harness(menu, World(polls_until_operator=1))
    try:
        call = FakeCall(caller=ScriptedCaller("1" + "#" + "0" + "1" + "." , then_hang_up=False)).run(h.address)
        sent = commands(call)
        assert sent[-4:] == ['SET VARIABLE "IVR_OPERATOR" "op101"',
                             'SET VARIABLE "IVR_OPERATOR_ENDPOINT" "PJSIP/op101"',
                             'SET VARIABLE "IVR_RECORD" "1"', 'SET VARIABLE "IVR_STATUS" "connect"']
        assert call.closed_by_server
        assert ended(h).outcome == "connected"
        assert h.results[0].ended_by == "connect"
    finally:
        h.server.shutdown(1)


def test_hang_up_mid_prompt_is_recorded_at_the_node(harness: Harness) -> None:
    call = FakeCall(caller=ScriptedCaller("1#", hang_up_on="menu.main")).run(harness.address)
    assert call.transcript[-2:] == ["<< 200 result=-1 endpos=16160", "<< HANGUP"]
    assert call.closed_by_server and call.seconds_to_close is not None and call.seconds_to_close < 1
    ctx = ended(harness)
    assert ctx.outcome == "hangup" and ctx.path[-1].node == "main" and ctx.path[-1].exit == "hangup"


def test_hang_up_in_queue_leaves_the_queue(harness: Harness) -> None:
    call = FakeCall(caller=ScriptedCaller("1#01")).run(harness.address)  # then hangs up on hold
    assert call.closed_by_server
    ctx = ended(harness)
    assert ctx.outcome == "abandoned" and ctx.path[-1].node == "queue"
    assert harness.world.left == ["1795312804.30"] and harness.world.queued == {}


def test_the_appeal_number_is_one_command_heard_digit_by_digit(harness: Harness) -> None:
    """Prompts nobody may cut short go out as one Playback: one round trip, not eleven
    (each command costs the engine's loop a wake-up, bench/asterisk_cost.py)."""
    caller = ScriptedCaller("1#01")  # then hangs up on hold
    sent = commands(FakeCall(caller=caller).run(harness.address))
    appeal = ended(harness).appeal
    files = ["ivr/ru/common.your_appeal", *(f"ivr/ru/number.{d}" for d in appeal)]
    assert f'EXEC Playback "{"&".join(files)}"' in sent
    assert not any(c.startswith("STREAM FILE ivr/ru/common.your_appeal") for c in sent)
    start = caller.heard.index(files[0])
    assert caller.heard[start:start + len(files)] == files  # each file heard, in order
    assert not any("CHANNEL(language)" in c for c in sent)  # agi_language said ru; the caller chose ru


def test_the_queue_announcement_before_music_no_key_cuts_is_one_command_too(menu) -> None:  # type: ignore[no-untyped-def]
    """No callback offered: the hold takes no key, so nothing can cut short "your consent is
    noted", the appeal number, the position and the wait: one Playback, the queue's
    variable set before it (on a real host: 5 round trips fewer a call, bench/asterisk_cost.py)."""
    h = Harness(menu, World(offer_callback=False))
    try:
        caller = ScriptedCaller("1#01")  # then hangs up on hold
        sent = commands(FakeCall(caller=caller).run(h.address))
        appeal = ended(h).appeal
        files = ["ivr/ru/consent.yes", "ivr/ru/common.your_appeal", *(f"ivr/ru/number.{d}" for d in appeal),
                 "ivr/ru/queue.position", "ivr/ru/number.3", "ivr/ru/queue.wait_minutes", "ivr/ru/number.4",
                 "ivr/ru/unit.minute.few"]
        at = sent.index('SET VARIABLE "IVR_QUEUE" "general"')
        assert sent[at + 1:at + 4] == [f'EXEC Playback "{"&".join(files)}"', 'EXEC StartMusicOnHold "default"',
                                       "WAIT FOR DIGIT 4999"]
        start = caller.heard.index(files[0])
        assert caller.heard[start:start + len(files)] == files
    finally:
        h.server.shutdown(1)


def test_a_channel_whose_language_the_environment_does_not_say_is_set_to_the_calls(harness: Harness) -> None:
    env = {k: v for k, v in default_env(caller="79990000001").items() if k != "agi_language"}
    sent = commands(FakeCall(caller=ScriptedCaller("1#", hang_up_on="menu.main"), env=env).run(harness.address))
    assert sent[0] == 'SET VARIABLE "CHANNEL(language)" "ru"'


def test_an_asterisk_without_playback_still_says_the_appeal_number(
    harness: Harness, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """A host whose modules.conf predates app_playback answers ``200 result=-2``: the files are
    played one STREAM FILE each, the call goes on, and the log says what to fix."""
    from ivr.asterisk import media, peer

    monkeypatch.setattr(peer, "APPS", peer.APPS - {"Playback"})
    monkeypatch.setattr(media, "_NO_PLAYBACK_TOLD", [])  # told once a process: not yet in this one
    caller = ScriptedCaller("1#01")  # then hangs up on hold
    call = FakeCall(caller=caller).run(harness.address)
    appeal = ended(harness).appeal
    at = next(i for i, line in enumerate(call.transcript) if line.startswith(">> EXEC Playback"))
    assert call.transcript[at + 1] == "<< 200 result=-2"
    files = ["ivr/ru/common.your_appeal", *(f"ivr/ru/number.{d}" for d in appeal)]
    sent = commands(call)
    start = sent.index(f'STREAM FILE {files[0]} "" 0')
    assert sent[start:start + len(files)] == [f'STREAM FILE {f} "" 0' for f in files]
    assert ended(harness).outcome == "abandoned" and harness.results[0].ended_by == "caller_hangup"
    assert [r.levelname for r in caplog.records if "app_playback.so" in r.getMessage()] == ["WARNING"]


def test_a_hang_up_during_the_appeal_number_leaves_the_queue(harness: Harness) -> None:
    call = FakeCall(caller=ScriptedCaller("1#01", hang_up_on="number.6")).run(harness.address)
    at = next(i for i, line in enumerate(call.transcript) if line.startswith(">> EXEC Playback"))
    assert call.transcript[at + 1:at + 3] == ["<< 200 result=-1", "<< HANGUP"]  # hangup_during_playback.txt
    assert len(call.transcript) <= at + 5  # at most one command more, refused on the dead channel
    assert call.closed_by_server
    ctx = ended(harness)
    assert ctx.outcome == "abandoned" and ctx.path[-1].node == "queue"
    assert harness.world.left == ["1795312804.30"]


@pytest.mark.parametrize("fault", ["510", "511", "520", "garbage", "overlong", "vanish"])
def test_bad_replies_end_the_call_cleanly_and_the_server_keeps_serving(harness: Harness, fault: str) -> None:
    call = FakeCall(caller=ScriptedCaller("1#"), faults={5: fault}).run(harness.address)  # type: ignore[dict-item]
    if fault != "vanish":
        assert call.closed_by_server
    ctx = ended(harness)
    assert ctx.outcome == "hangup" and ctx.path[-1].exit == "hangup"
    assert harness.results[0].ended_by in ("error", "caller_hangup")
    # the next call is served as usual
    env = default_env(caller="79990000002", uniqueid="2.2")
    again = FakeCall(caller=ScriptedCaller("1#", hang_up_on="menu.main"), env=env).run(harness.address)
    assert again.closed_by_server and ended(harness, "2.2").path[-1].node == "main"


def test_a_stalled_peer_is_dropped_and_blocks_no_one(harness: Harness) -> None:
    stalled = FakeCall(caller=ScriptedCaller("1#"), faults={3: "stall"})
    t = threading.Thread(target=stalled.run, args=(harness.address,))
    t.start()
    time.sleep(0.2)
    started = time.monotonic()
    env = default_env(caller="79990000002", uniqueid="2.2")
    other = FakeCall(caller=ScriptedCaller("1#", hang_up_on="menu.main"), env=env).run(harness.address)
    assert other.closed_by_server and time.monotonic() - started < 1.0
    t.join(10)
    assert stalled.closed_by_server and stalled.seconds_to_close is not None
    assert 1.5 < stalled.seconds_to_close < 5  # reply_grace=2 s in the harness
    assert ended(harness).outcome == "hangup"


def test_env_block_that_never_ends_is_dropped(harness: Harness) -> None:
    with socket.create_connection(harness.address, timeout=10) as sock:
        sock.sendall(b"agi_network: yes\n")
        started = time.monotonic()
        assert sock.recv(100) == b""  # the server closes after env_timeout (2 s)
        assert time.monotonic() - started < 5
    with socket.create_connection(harness.address, timeout=10) as sock:
        sock.sendall(b"GET / HTTP/1.1\r\n\r\n")
        assert sock.recv(100) == b""


def test_too_many_calls_are_handed_back_busy(menu) -> None:  # type: ignore[no-untyped-def]
    h = Harness(menu, World(), max_calls=1, settings=SETTINGS)
    try:
        first = FakeCall(caller=ScriptedCaller("1#"), faults={3: "stall"})
        t = threading.Thread(target=first.run, args=(h.address,))
        t.start()
        time.sleep(0.2)
        env = default_env(caller="79990000002", uniqueid="2.2")
        second = FakeCall(caller=ScriptedCaller("1#"), env=env).run(h.address)
        assert commands(second) == ['SET VARIABLE IVR_STATUS "busy"'] and second.closed_by_server
        t.join(10)
    finally:
        h.server.shutdown(1)
    assert h.server.calls_refused == 1


def _fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def test_200_concurrent_calls_leave_no_threads_or_sockets(menu) -> None:  # type: ignore[no-untyped-def]
    threads, fds = threading.active_count(), _fds()
    h = Harness(menu, World(polls_until_operator=2))
    calls = []
    for i in range(200):
        script = "1#01.." if i % 2 else "1#"  # half reach an operator, half hang up in the menu
        env = default_env(caller=f"7999{i:07d}", uniqueid=f"{i}.1")
        calls.append(FakeCall(caller=ScriptedCaller(script, then_hang_up=not i % 2), env=env))
    workers = [threading.Thread(target=c.run, args=(h.address,)) for c in calls]
    for w in workers:
        w.start()
    deadline = time.monotonic() + 60
    for w in workers:
        w.join(max(0.1, deadline - time.monotonic()))
    assert all(c.closed_by_server for c in calls)
    h.wait_idle()
    assert len(h.world.ended) == 200
    outcomes = sorted({ctx.outcome for ctx in h.world.ended.values()})
    assert outcomes == ["connected", "hangup"]
    assert h.world.queued == {}
    h.server.shutdown(1)
    assert threading.active_count() == threads
    assert _fds() == fds


def test_shutdown_hands_back_calls_in_progress(menu) -> None:  # type: ignore[no-untyped-def]
    h = Harness(menu, World())
    call = FakeCall(caller=ScriptedCaller("1#01" + "." * 1000, then_hang_up=False))
    t = threading.Thread(target=call.run, args=(h.address,))
    t.start()
    deadline = time.monotonic() + 5
    while not any("StartMusicOnHold" in x for x in call.transcript) and time.monotonic() < deadline:
        time.sleep(0.01)
    h.server.shutdown(0.2)
    t.join(5)
    assert 'SET VARIABLE "IVR_STATUS" "handback"' in commands(call) and call.closed_by_server
    assert h.server.active_calls == 0
