"""The recogniser up to the model: real audio, real vosk module where it works without one.

Only ``KaldiRecognizer`` is scripted (``speechkit.ScriptedKaldi``), and only where
a model would be needed to build one.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from speechkit import ScriptedKaldi, espeak_ru, vosk_result

from ivr.config.schema import SpeechSettings
from ivr.speech.recogniser import Recogniser, Word, model_sample_rate, parse_result

MODEL = object()  # what the scripted model factory returns


def scripted(
    tmp_path: Path, made: list[ScriptedKaldi], *, rate: int = 16000, **script: Any
) -> Recogniser:
    model_dir = tmp_path / "model"
    (model_dir / "conf").mkdir(parents=True, exist_ok=True)
    (model_dir / "conf" / "mfcc.conf").write_text(f"--sample-frequency={rate}\n")
    options = {
        k: script.pop(k) for k in ("workers", "queue", "timeout", "max_seconds") if k in script
    }

    def factory(model: object, rate: int, grammar: str | None) -> ScriptedKaldi:
        assert model is MODEL
        kaldi = ScriptedKaldi(rate, grammar, **script)
        made.append(kaldi)
        return kaldi

    return Recogniser(
        str(model_dir), model_factory=lambda _p: MODEL, recognizer_factory=factory, **options
    )


@pytest.fixture(scope="module")
def da_8k(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return espeak_ru("да", tmp_path_factory.mktemp("speech") / "da.wav", rate=8000)


@pytest.fixture(scope="module")
def digits_8k(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return espeak_ru("семь семь ноль один", tmp_path_factory.mktemp("speech") / "d.wav", rate=8000)


# -- no model ------------------------------------------------------------------------


def test_without_a_model_speech_is_off_and_says_so(
    da_8k: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING)
    recogniser = Recogniser(None, workers=2, max_seconds=15)
    assert recogniser.available is False
    assert recogniser.status_message() == (
        "speech recognition: OFF (no Vosk model configured; set VOSK_MODEL_PATH or speech.vosk_model)"
    )
    assert "speech recognition: OFF" in caplog.text
    result = recogniser.recognise(da_8k, mode="yes_no", language="ru")
    assert (result.status, result.text, result.confidence) == ("off", "", 0.0)
    assert not result.passes(0.0)


def test_a_model_path_that_does_not_exist_is_off(tmp_path: Path) -> None:
    recogniser = Recogniser(str(tmp_path / "nope"))
    assert not recogniser.available
    assert "Vosk model not found at" in recogniser.status_message()


def test_a_broken_model_dir_fails_once_in_the_real_vosk(
    tmp_path: Path, da_8k: Path, caplog: pytest.LogCaptureFixture
) -> None:
    (tmp_path / "broken" / "am").mkdir(parents=True)  # looks like a model, is not one
    recogniser = Recogniser(str(tmp_path / "broken"))  # the real vosk.Model
    assert recogniser.available  # not known yet: the model loads lazily
    assert "loads on first use" in recogniser.status_message()
    caplog.set_level(logging.ERROR)
    assert recogniser.warm_up() is False
    assert not recogniser.available
    assert "failed to load: Failed to create a model" in recogniser.status_message()
    for _ in range(3):
        assert recogniser.recognise(da_8k, mode="yes_no", language="ru").status == "off"
    assert caplog.text.count("failed to load") == 1


def test_from_config_prefers_the_environment(tmp_path: Path) -> None:
    speech = SpeechSettings(vosk_model=str(tmp_path / "from-config"), workers=3, queue=7)
    recogniser = Recogniser.from_config(speech, env_model_path=str(tmp_path / "from-env"))
    assert recogniser.model_path == str(tmp_path / "from-env")
    assert recogniser.workers == 3
    assert Recogniser.from_config(speech).model_path == str(tmp_path / "from-config")


# -- the pipeline up to the model ----------------------------------------------------


def test_8khz_speech_is_resampled_and_fed_in_4000_frame_chunks(
    tmp_path: Path, digits_8k: Path
) -> None:
    made: list[ScriptedKaldi] = []
    final = vosk_result(("семь", 0.98), ("семь", 0.9), ("ноль", 0.8), ("один", 0.92))
    recogniser = scripted(tmp_path, made, final=final)
    result = recogniser.recognise(digits_8k, mode="digits", language="ru")
    (kaldi,) = made
    assert kaldi.rate == 16000 and kaldi.words_enabled
    assert all(size == 8000 for size in kaldi.chunks[:-1]) and 0 < kaldi.chunks[-1] <= 8000
    assert sum(kaldi.chunks) == pytest.approx(result.duration * 16000 * 2, abs=2)
    grammar = json.loads(kaldi.grammar or "null")
    assert "семь" in grammar and grammar[-1] == "[unk]"
    assert result.status == "heard" and result.text == "семь семь ноль один"
    assert result.confidence == pytest.approx((0.98 + 0.9 + 0.8 + 0.92) / 4)
    assert result.words[0] == Word("семь", 0.98, 0.5, 0.8)
    assert result.passes(0.85) and not result.passes(0.95)


def test_the_model_rate_comes_from_the_model(tmp_path: Path, da_8k: Path) -> None:
    made: list[ScriptedKaldi] = []
    recogniser = scripted(tmp_path, made, rate=8000, final=vosk_result(("да", 1.0)))
    assert model_sample_rate(tmp_path / "model") == 8000
    recogniser.recognise(da_8k, mode="yes_no", language="ru")
    assert made[0].rate == 8000
    assert model_sample_rate(tmp_path / "no-conf") == 16000


def test_results_at_endpoints_and_the_final_one_are_joined(tmp_path: Path, digits_8k: Path) -> None:
    made: list[ScriptedKaldi] = []
    recogniser = scripted(
        tmp_path,
        made,
        results=[vosk_result(("семь", 0.6), ("[unk]", 1.0))],
        endpoint_every=1,
        final=vosk_result(("один", 1.0)),
    )
    result = recogniser.recognise(digits_8k, mode="digits", language="ru")
    assert result.text == "семь один"  # [unk] is not a word the caller said
    assert result.confidence == pytest.approx(0.8)


def test_keywords_and_free_speech_grammars(tmp_path: Path, da_8k: Path) -> None:
    made: list[ScriptedKaldi] = []
    recogniser = scripted(tmp_path, made)
    recogniser.recognise(da_8k, mode="keywords", language="ru", grammar=["оплата", "статус"])
    recogniser.recognise(da_8k, mode="keywords", language="ru", keywords={"pay": ["оплата"]})
    recogniser.recognise(da_8k, mode="free", language="ru")
    assert json.loads(made[0].grammar or "") == ["оплата", "статус", "[unk]"]
    assert json.loads(made[1].grammar or "") == ["оплата", "[unk]"]
    assert made[2].grammar is None


def test_only_unk_or_an_empty_text_is_nothing(tmp_path: Path, da_8k: Path) -> None:
    for final in ('{"text": ""}', vosk_result(("[unk]", 0.9)), "not json", '{"partial": "да"}'):
        recogniser = scripted(tmp_path, [], final=final)
        result = recogniser.recognise(da_8k, mode="yes_no", language="ru")
        assert (result.status, result.text, result.confidence) == ("nothing", "", 0.0)


def test_a_caller_in_another_language_gets_keys(tmp_path: Path, da_8k: Path) -> None:
    made: list[ScriptedKaldi] = []
    result = scripted(tmp_path, made).recognise(da_8k, mode="yes_no", language="en")
    assert result.status == "off" and "'ru', not 'en'" in result.reason and made == []


def test_parse_result_shapes() -> None:
    assert parse_result('{"text": ""}') == ()
    assert parse_result('{"partial": "да"}') == ()
    assert parse_result(
        '{"result": [{"conf": 1.0, "end": 1.02, "start": 0.5, "word": "да"}], "text": "да"}'
    ) == (Word("да", 1.0, 0.5, 1.02),)
    assert parse_result('{"result": [{"word": "нет", "conf": 7}, {"bad": 1}]}') == (
        Word("нет", 1.0, 0.0, 0.0),
    )
    assert parse_result("[1, 2]") == () and parse_result("") == ()


# -- bad input: nothing, quickly, never a crash ---------------------------------------


def test_bad_input_is_nothing_and_silence_never_reaches_the_decoder(tmp_path: Path) -> None:
    made: list[ScriptedKaldi] = []
    recogniser = scripted(tmp_path, made, final=vosk_result(("да", 0.3)))
    silence = b"\x00\x00" * 8000
    (tmp_path / "zero.wav").write_bytes(b"")
    clips: list[tuple[Any, dict[str, Any]]] = [
        (b"", {}),
        (tmp_path / "zero.wav", {}),
        (tmp_path / "missing.wav", {}),
        (b"not audio at all" * 100, {}),
        (silence, {"raw_rate": 8000}),
        (b"RIFF\x24\x00\x00\x00WAVEfmt ", {}),
    ]
    for clip, kw in clips:
        started = time.monotonic()
        result = recogniser.recognise(clip, mode="yes_no", language="ru", **kw)
        assert result.status == "nothing", (clip, result)
        assert result.reason and time.monotonic() - started < 2.0
    assert made == []


def test_noise_goes_to_the_decoder_and_comes_back_as_what_it_says(tmp_path: Path) -> None:
    import random

    noise = bytes(random.Random(1).getrandbits(8) for _ in range(16000))
    made: list[ScriptedKaldi] = []
    result = scripted(tmp_path, made).recognise(noise, mode="yes_no", language="ru", raw_rate=8000)
    assert result.status == "nothing" and len(made) == 1


def test_a_10_minute_clip_is_recognised_only_up_to_max_seconds(tmp_path: Path) -> None:
    made: list[ScriptedKaldi] = []
    recogniser = scripted(tmp_path, made, max_seconds=15.0, final=vosk_result(("да", 0.9)))
    ten_minutes = (b"\x00\x10\x00\xf0" * 4000) * 600  # raw 8 kHz, a loud square wave
    started = time.monotonic()
    result = recogniser.recognise(ten_minutes, mode="yes_no", language="ru", raw_rate=8000)
    assert time.monotonic() - started < 2.0
    assert result.duration == pytest.approx(15.0, abs=0.01)
    assert sum(made[0].chunks) == pytest.approx(15 * 16000 * 2, abs=4)


# -- the pool ------------------------------------------------------------------------


def test_the_pool_runs_at_most_workers_at_once_and_answers_busy_at_once(
    tmp_path: Path, da_8k: Path
) -> None:
    gate = threading.Event()
    running = 0
    peak = 0
    lock = threading.Lock()

    class Counting(ScriptedKaldi):
        def AcceptWaveform(self, data: bytes) -> int:
            nonlocal running, peak
            with lock:
                running += 1
                peak = max(peak, running)
            try:
                return super().AcceptWaveform(data)
            finally:
                with lock:
                    running -= 1

    made: list[ScriptedKaldi] = []

    def factory(model: object, rate: int, grammar: str | None) -> ScriptedKaldi:
        kaldi = Counting(rate, grammar, gate=gate, final=vosk_result(("да", 0.9)))
        made.append(kaldi)
        return kaldi

    (tmp_path / "model").mkdir()
    recogniser = Recogniser(
        str(tmp_path / "model"),
        workers=2,
        queue=3,
        timeout=10,
        model_factory=lambda _p: MODEL,
        recognizer_factory=factory,
    )
    futures = [recogniser.submit(da_8k, mode="yes_no", language="ru") for _ in range(5)]
    started = time.monotonic()
    overflow = [recogniser.recognise(da_8k, mode="yes_no", language="ru") for _ in range(3)]
    assert time.monotonic() - started < 0.2  # answered at once, not queued
    assert [r.status for r in overflow] == ["busy"] * 3
    time.sleep(0.2)
    assert 1 <= peak <= 2
    gate.set()
    results = [f.result(timeout=5) for f in futures]
    assert [r.status for r in results] == ["heard"] * 5
    assert peak == 2
    assert recogniser.stats["busy"] == 3 and recogniser.stats["heard"] == 5
    # the pool is free again
    assert recogniser.recognise(da_8k, mode="yes_no", language="ru").status == "heard"
    recogniser.close()


def test_a_recognition_that_takes_too_long_times_out_and_is_bounded(
    tmp_path: Path, digits_8k: Path
) -> None:
    made: list[ScriptedKaldi] = []
    recogniser = scripted(tmp_path, made, timeout=0.3, workers=1, queue=2, delay=0.2)
    started = time.monotonic()
    first = recogniser.submit(digits_8k, mode="digits", language="ru")
    second = recogniser.submit(digits_8k, mode="digits", language="ru")
    assert first.result(timeout=3).status == "timeout"  # stopped feeding at its deadline
    assert second.result(timeout=3).status == "timeout"  # waited past its deadline: never run
    assert time.monotonic() - started < 1.5
    assert len(made) == 1 and len(made[0].chunks) <= 3
