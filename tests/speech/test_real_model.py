"""The real thing: espeak-ng Russian at 8 kHz, recognised by a real Vosk model.

Runs only where ``VOSK_MODEL_PATH`` names a model directory (e.g.
vosk-model-small-ru-0.22).  Without one every test here is reported as SKIPPED
with "not run: no Vosk model" — never as passed.

espeak-ng is a robotic voice; a grammar-restricted decoder hears it well, free
dictation less so, hence the looser assertions for the ФИО.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from speechkit import espeak_ru

from ivr.speech.grammar import interpret_digits, interpret_yes_no
from ivr.speech.recogniser import Recogniser

pytestmark = pytest.mark.speech_model


@pytest.fixture(scope="module")
def recogniser() -> Iterator[Recogniser]:
    path = os.environ.get("VOSK_MODEL_PATH", "").strip()
    if not path:
        pytest.skip("not run: no Vosk model (set VOSK_MODEL_PATH)")
    if not os.path.isdir(path):
        pytest.skip(f"not run: no Vosk model (VOSK_MODEL_PATH={path} is not a directory)")
    service = Recogniser(path, workers=2, max_seconds=15, timeout=60)
    if not service.warm_up():
        pytest.fail(service.status_message())
    yield service
    service.close()


@pytest.fixture(scope="module")
def clips(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("real-model")


def test_da_at_8khz_is_yes(recogniser: Recogniser, clips: Path) -> None:
    result = recogniser.recognise(espeak_ru("да", clips / "da.wav"), mode="yes_no", language="ru")
    assert result.status == "heard", result
    assert interpret_yes_no(result.text, "ru") is True
    assert 0.0 < result.confidence <= 1.0


def test_net_is_no(recogniser: Recogniser, clips: Path) -> None:
    result = recogniser.recognise(espeak_ru("нет", clips / "net.wav"), mode="yes_no", language="ru")
    assert interpret_yes_no(result.text, "ru") is False, result


def test_digits_spoken_as_words(recogniser: Recogniser, clips: Path) -> None:
    clip = espeak_ru("семь семь ноль один", clips / "digits.wav")
    result = recogniser.recognise(clip, mode="digits", language="ru")
    assert interpret_digits(result.text, "ru") == "7701", result


def test_raw_sln_from_asterisk(recogniser: Recogniser, clips: Path) -> None:
    import wave

    with wave.open(str(espeak_ru("да", clips / "da2.wav"))) as w:
        (clips / "da.sln").write_bytes(w.readframes(w.getnframes()))
    result = recogniser.recognise(clips / "da.sln", mode="yes_no", language="ru", raw_rate=8000)
    assert interpret_yes_no(result.text, "ru") is True, result


def test_fio_free_speech(recogniser: Recogniser, clips: Path) -> None:
    clip = espeak_ru("Иванов Иван Петрович", clips / "fio.wav")
    result = recogniser.recognise(clip, mode="free", language="ru")
    assert result.status == "heard", result
    heard = set(result.text.split())
    assert heard & {"иванов", "иван", "петрович"}, result


def test_silence_is_nothing(recogniser: Recogniser) -> None:
    result = recogniser.recognise(b"\x00\x00" * 16000, mode="yes_no", language="ru", raw_rate=8000)
    assert result.status == "nothing"
