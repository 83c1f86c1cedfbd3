"""The softphone's keypad: typed text to presses, read on a thread, never holding the call."""

from __future__ import annotations

import io
import time

from ivr.asterisk.keypad import Keypad, Press, presses


def kinds(text: str) -> list[str]:
    return [p.kind if p.kind != "key" else p.value for p in presses(text)[0]]


def test_keys_act_alone_and_enter_alone_is_silence() -> None:
    assert kinds("1\n") == ["1", "eol"]  # Enter after keys only closes the line
    assert kinds("\n") == ["silence"]
    assert kinds("500#\n\nh") == ["5", "0", "0", "#", "eol", "silence", "hangup"]
    assert kinds("Иван\n") == ["text"] * 4 + ["eol"]
    assert kinds("a\x04") == ["answer", "hangup"]
    assert presses("1", line_has_content=False) == ([Press("key", "1")], True)


def test_waiting_for_a_key_lasts_its_time_and_ends_at_a_press() -> None:
    keypad = Keypad(io.StringIO(""))  # not started: presses come only from put()
    started = time.monotonic()
    assert keypad.next(0.2) is None and time.monotonic() - started >= 0.19
    keypad.put(Press("eol"), Press("key", "1"), Press("key", "2"))
    assert keypad.waiting()
    assert keypad.take_key("2") is None  # "1" is first in line
    assert keypad.take_key("12") == "1" and keypad.next(0) == Press("key", "2")
    assert not keypad.waiting()


def test_the_end_of_the_input_hangs_up() -> None:
    keypad = Keypad(io.StringIO("1")).start()
    assert keypad.next(2) == Press("key", "1")
    assert keypad.next(2) == Press("hangup")
