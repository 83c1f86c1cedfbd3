"""The terminal softphone walks the real path: TCP, AGI as Asterisk speaks it, the engine."""

from __future__ import annotations

import io
import os
import threading
import time
from typing import TextIO

import pytest
from harness import Harness
from world import ROOT, World

from ivr.asterisk.keypad import Keypad
from ivr.asterisk.peer import CallerHangsUp
from ivr.asterisk.softphone import TerminalCaller, load_prompt_texts, run_softphone
from ivr.identity import synthetic_inn


def test_softphone_reaches_an_operator(menu) -> None:  # type: ignore[no-untyped-def]
    h = Harness(menu, World(polls_until_operator=1))
    typed = "\n".join(["1", "Иванов Иван Иванович", synthetic_inn(7) + "#", "1", "0", "1"]) + "\n"
    out = io.StringIO()
    keys, typist = _keyboard()
    typist.write(typed)
    typist.flush()
    done: dict[str, dict[str, str]] = {}
    call = threading.Thread(target=lambda: done.update(variables=run_softphone(
        *h.address, input=keys, output=out, prompts_dir=ROOT / "prompts", timeout=20)))
    call.start()
    try:
        deadline = time.monotonic() + 30
        while "Connected to operator" not in out.getvalue() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert call.is_alive(), "connected to an operator, the call lasts until the caller hangs up"
        typist.write("h")
        typist.flush()
        call.join(10)
    finally:
        typist.close()
        h.server.shutdown(1)
    text, variables = out.getvalue(), done["variables"]
    assert "[menu.main] Выберите тему обращения." in text
    assert "● recording" in text and "♫ music on hold" in text
    assert variables["IVR_STATUS"] == "connect" and variables["IVR_OPERATOR_ENDPOINT"] == "PJSIP/op101"
    assert "Connected to operator op101 at PJSIP/op101" in text


def test_softphone_hang_up_is_recorded(menu) -> None:  # type: ignore[no-untyped-def]
    h = Harness(menu, World())
    try:
        run_softphone(*h.address, input=io.StringIO("1\nh\n"), output=io.StringIO(),
                      prompts_dir=ROOT / "prompts", timeout=20, uniqueid="1795312804.30")
        h.wait_idle()
    finally:
        h.server.shutdown(1)
    ctx = h.world.ended["1795312804.30"]
    assert ctx.outcome == "hangup" and ctx.path[-1].node == "ask_name"


def test_the_softphone_shows_the_words_the_engine_tells_each_prompt_once(menu) -> None:  # type: ignore[no-untyped-def]
    """A terminal hears no sound file: the engine tells it each prompt's words (its accepted
    texts), and those are shown, not what prompts/*.yaml here says."""
    told: list[tuple[str, str]] = []

    def words(prompt: str, language: str) -> str:
        told.append((prompt, language))
        return f"(engine) {prompt}"

    h = Harness(menu, World(), words=words)
    out = io.StringIO()
    try:
        run_softphone(*h.address, input=io.StringIO("\n\nh\n"), output=out, prompts_dir=ROOT / "prompts", timeout=20)
        h.wait_idle()
    finally:
        h.server.shutdown(1)
    text = out.getvalue()
    assert "♪ [welcome] (engine) welcome" in text and "Здравствуйте" not in text, text
    assert "IVR_WORDS" not in text  # a word for the screen, not a variable to show
    assert ("welcome", "ru") in told and len(told) == len(set(told))  # each prompt told once


def test_prompt_texts_are_flattened() -> None:
    texts = load_prompt_texts(ROOT / "prompts", "ru")
    assert texts["consent.yes"].startswith("Спасибо")


def test_an_h_in_a_recorded_name_is_said_not_a_hang_up() -> None:
    """'John Smith' typed at a recording is what the caller says; an 'h' alone hangs up."""
    def recorded(typed: str) -> str | None:
        keypad = Keypad(io.StringIO(typed)).start()
        try:
            return TerminalCaller(keypad=keypad, output=io.StringIO(), texts={}).speak(6000, "#")
        finally:
            keypad.close()

    assert recorded("John Smith\n") is None  # said, then Enter: the recording ends, the call goes on
    with pytest.raises(CallerHangsUp):
        recorded("h\n")


def _keyboard() -> tuple[TextIO, TextIO]:
    """A keyboard that stays open (a pipe): the call waits in real time for what is typed."""
    read, write = os.pipe()
    return os.fdopen(read, "r", encoding="utf-8"), os.fdopen(write, "w", encoding="utf-8")
