"""The terminal softphone's voice: what the person types at a recording, spoken by
espeak-ng into the file the engine asked for, as Asterisk's RECORD FILE leaves what a
caller said (8 kHz mono 16-bit WAV), whole or not at all."""

from __future__ import annotations

import wave
from pathlib import Path

from ivr.asterisk.softphone import speak_clip


def test_the_typed_name_is_spoken_into_a_telephone_wav(tmp_path: Path) -> None:
    clip = tmp_path / "1795312804.30-ask_name.wav"
    assert speak_clip("Тестов Тест Тестович", "ru", clip) == ""
    with wave.open(str(clip)) as audio:
        assert (audio.getnchannels(), audio.getsampwidth(), audio.getframerate()) == (1, 2, 8000)
        assert audio.getnframes() / 8000 > 0.5
    assert sorted(p.name for p in tmp_path.iterdir()) == [clip.name]  # no partial file left


def test_another_format_or_a_folder_not_here_leaves_nothing_and_says_why(tmp_path: Path) -> None:
    assert "WAV only" in speak_clip("Тестов", "ru", tmp_path / "clip.gsm")
    assert "no folder" in speak_clip("Тестов", "ru", tmp_path / "elsewhere" / "clip.wav")
    assert list(tmp_path.iterdir()) == []

