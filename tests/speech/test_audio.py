"""Real espeak-ng speech, real ffmpeg and pydub: what reaches Vosk."""

from __future__ import annotations

import io
import os
import struct
import tracemalloc
import wave
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from speechkit import espeak_ru

from ivr.speech.audio import AudioProblem, BadAudio, EmptyAudio, Pcm, chunks, load_clip


def wav_bytes(
    rate: int, seconds: float, *, channels: int = 1, width: int = 2, level: int = 0
) -> bytes:
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(channels)
        w.setsampwidth(width)
        w.setframerate(rate)
        frames = int(rate * seconds)
        sample = (level if width == 2 else 128).to_bytes(width, "little", signed=width == 2)
        w.writeframes(sample * channels * frames)
    return buf.getvalue()


def test_8khz_telephone_speech_becomes_16khz_mono_of_the_same_length(tmp_path: Path) -> None:
    clip = espeak_ru("семь семь ноль один", tmp_path / "digits.wav", rate=8000)
    with wave.open(str(clip)) as w:
        assert w.getframerate() == 8000
        seconds = w.getnframes() / 8000
    pcm = load_clip(clip, rate=16000)
    assert pcm.rate == 16000
    assert abs(pcm.seconds - seconds) < 0.005
    assert len(pcm.data) == pytest.approx(seconds * 16000 * 2, abs=8)
    assert not pcm.silent


def test_bytes_files_and_raw_sln_agree(tmp_path: Path) -> None:
    clip = espeak_ru("да", tmp_path / "da.wav", rate=8000)
    from_file = load_clip(clip)
    from_bytes = load_clip(clip.read_bytes())
    with wave.open(str(clip)) as w:
        sln = w.readframes(w.getnframes())  # what Asterisk writes as .sln: raw 8 kHz s16
    (tmp_path / "da.sln").write_bytes(sln)
    from_sln = load_clip(tmp_path / "da.sln", raw_rate=8000)
    assert from_file == from_bytes == from_sln


def test_other_rates_stereo_8bit_and_ulaw_wav(tmp_path: Path) -> None:
    assert load_clip(wav_bytes(44100, 1.0, channels=2, level=300)).seconds == pytest.approx(
        1.0, abs=0.01
    )
    assert load_clip(wav_bytes(16000, 0.5, width=1)).seconds == pytest.approx(0.5, abs=0.01)
    clip = espeak_ru("нет", tmp_path / "net.wav", rate=8000)
    ulaw = tmp_path / "net-ulaw.wav"  # a µ-law WAV: stdlib wave refuses it, ffmpeg reads it
    os.system(f"sox {clip} -e u-law {ulaw}")
    assert load_clip(ulaw).seconds == pytest.approx(load_clip(clip).seconds, abs=0.01)


def test_chunks_are_4000_frames() -> None:
    pcm = Pcm(b"\x01\x00" * 10_500, 16000)
    assert [len(c) for c in chunks(pcm)] == [8000, 8000, 5000]


def test_a_10_minute_clip_is_cut_at_max_seconds_without_decoding_it_all(tmp_path: Path) -> None:
    long = tmp_path / "long.wav"
    with wave.open(str(long), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(8000)
        w.writeframes(b"\x10\x00\xf0\xff" * (8000 * 600 // 2))  # 10 minutes, 9.6 MB
    tracemalloc.start()
    pcm = load_clip(long, max_seconds=15.0)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert pcm.seconds == pytest.approx(15.0, abs=0.001)
    assert peak < 4_000_000  # 15 s at 16 kHz is 480 kB; the 9.6 MB file is never read whole


def test_a_10_minute_clip_through_ffmpeg_is_bounded_too(tmp_path: Path) -> None:
    long = tmp_path / "long-ulaw.wav"  # µ-law WAV: the stdlib cannot read it, ffmpeg must
    os.system(f"ffmpeg -loglevel error -f lavfi -i sine=f=440:d=600:r=8000 -c:a pcm_mulaw {long}")
    pcm = load_clip(long, max_seconds=5.0)
    assert pcm.seconds == pytest.approx(5.0, abs=0.05)


@pytest.mark.parametrize(
    ("clip", "problem"),
    [
        (b"", EmptyAudio),
        (wav_bytes(8000, 0.0), EmptyAudio),
        (b"RIFF\x24\x00\x00\x00WAVEfmt ", BadAudio),  # cut short
        (b"\x00\xff garbage " * 500, BadAudio),
    ],
)
def test_nothing_usable_raises_an_audio_problem(clip: bytes, problem: type[AudioProblem]) -> None:
    with pytest.raises(problem):
        load_clip(clip)


def test_impossible_sample_rates_are_bad_audio(tmp_path: Path) -> None:
    header = bytearray(wav_bytes(8000, 0.1))
    for rate in (0, 1, 10_000_000):
        struct.pack_into("<I", header, 24, rate)  # the fmt chunk's sample rate
        with pytest.raises(AudioProblem):
            load_clip(bytes(header))
    with pytest.raises(BadAudio):
        load_clip(b"\x00\x01" * 100, raw_rate=50)
    empty = tmp_path / "empty.wav"
    empty.write_bytes(b"")
    with pytest.raises(EmptyAudio):
        load_clip(empty)
    with pytest.raises(BadAudio):
        load_clip(tmp_path / "missing.wav")


def test_silence_is_silent() -> None:
    assert load_clip(wav_bytes(8000, 1.0)).silent
    assert not load_clip(wav_bytes(8000, 1.0, level=2000)).silent


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=2048))
def test_any_bytes_are_audio_or_an_audio_problem(data: bytes) -> None:
    try:
        pcm = load_clip(data, max_seconds=2.0)
    except AudioProblem:
        return
    assert pcm.rate == 16000 and pcm.seconds <= 2.0 and len(pcm.data) % 2 == 0
