"""The recogniser as the AGI media layer sees it, with real espeak-ng audio and the real pipeline."""

from __future__ import annotations

import subprocess
from pathlib import Path

from ivr.asterisk.wiring import speech_hook
from ivr.speech.recogniser import Recogniser


class _ScriptedKaldi:
    """Stands in for vosk.KaldiRecognizer only (no model exists here); returns Vosk-shaped JSON."""

    def __init__(self, text: str) -> None:
        self.text = text

    def SetWords(self, _: bool) -> None:
        pass

    def AcceptWaveform(self, _: bytes) -> bool:
        return False

    def FinalResult(self) -> str:
        if not self.text:
            return '{"text": ""}'
        words = ",".join(f'{{"conf": 0.8, "start": 0.1, "end": 0.5, "word": "{w}"}}' for w in self.text.split())
        return f'{{"result": [{words}], "text": "{self.text}"}}'


def recogniser(tmp_path: Path, text: str) -> Recogniser:
    model = tmp_path / "model"
    (model / "conf").mkdir(parents=True)
    (model / "conf" / "mfcc.conf").write_text("--sample-frequency=16000\n")
    return Recogniser(str(model), workers=1, model_factory=lambda path: object(),
                      recognizer_factory=lambda model, rate, grammar: _ScriptedKaldi(text))


def speak(tmp_path: Path, words: str) -> str:
    wav = tmp_path / "said.wav"
    subprocess.run(["espeak-ng", "-v", "ru", "-w", str(wav), words], check=True)
    return str(wav)


def test_heard_speech_becomes_text_and_confidence(tmp_path: Path) -> None:
    hook = speech_hook(recogniser(tmp_path, "да"))
    assert hook(speak(tmp_path, "да"), "yes_no", ("да", "нет"), "ru") == ("да", 0.8)


def test_nothing_heard_is_an_empty_answer_so_the_engine_asks_again(tmp_path: Path) -> None:
    hook = speech_hook(recogniser(tmp_path, ""))
    assert hook(speak(tmp_path, "э"), "name", (), "ru") == ("", 0.0)


def test_recognition_off_is_no_answer(tmp_path: Path) -> None:
    hook = speech_hook(Recogniser(None))
    assert hook(speak(tmp_path, "да"), "yes_no", (), "ru") is None
