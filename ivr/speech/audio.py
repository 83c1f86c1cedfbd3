"""A caller's clip, whatever it is, as the mono 16-bit PCM at the rate the model wants.

Telephone audio is 8 kHz; the small Russian Vosk model is 16 kHz and Vosk does not
resample: 8 kHz fed to it fails with ``Failed to process waveform`` (vosk-api #1726).
So every clip is converted here, before Vosk sees it.

Strategy, cheapest first, every path bounded by ``max_seconds``:

* WAV PCM (Asterisk ``RECORD FILE ... wav``: 8 kHz s16; ``wav16``: 16 kHz) — the
  header is read with :mod:`wave` and only the frames needed are read, so a
  10-minute clip costs what ``max_seconds`` costs;
* raw signed linear (Asterisk ``.sln`` 8 kHz, ``.sln16``) — the caller says the rate;
* anything else (µ-law or GSM WAV, MP3, Twilio's recordings) — ffmpeg, told to stop
  after ``max_seconds`` (``-t``), with a timeout and a cap on its output;

then pydub resamples (``set_frame_rate``) and mixes down to mono.
Nothing usable raises :class:`EmptyAudio` or :class:`BadAudio`; the recogniser
turns both into "nothing heard".
"""

from __future__ import annotations

import audioop
import io
import subprocess
import wave
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from pydub import AudioSegment

MIN_RATE, MAX_RATE = 4000, 192000
# Below this RMS (about -60 dBFS of 16-bit audio) a clip is silence: not worth a decoder.
SILENCE_RMS = 32
FFMPEG_TIMEOUT = 10.0


class AudioProblem(Exception):
    """A clip that cannot be recognised; the reason is for the log, not the caller."""


class EmptyAudio(AudioProblem):
    """No audio at all: a clip of 0 bytes, or a header with no frames."""


class BadAudio(AudioProblem):
    """Not audio, or audio with an impossible header (rate 0, 200 channels...)."""


@dataclass(frozen=True)
class Pcm:
    """Mono signed 16-bit little-endian samples at ``rate``."""

    data: bytes
    rate: int

    @property
    def seconds(self) -> float:
        return len(self.data) / 2 / self.rate

    @property
    def silent(self) -> bool:
        return not self.data or audioop.rms(self.data, 2) < SILENCE_RMS


def load_clip(
    clip: bytes | str | Path,
    *,
    rate: int = 16000,
    max_seconds: float = 15.0,
    raw_rate: int | None = None,
) -> Pcm:
    """Read ``clip`` (bytes or a file) as mono s16 PCM at ``rate``, at most ``max_seconds``.

    ``raw_rate``: the clip is headerless signed 16-bit linear at that rate
    (Asterisk ``.sln`` is 8000, ``.sln16`` is 16000).
    """
    if max_seconds <= 0:
        raise ValueError("max_seconds must be positive")
    if isinstance(clip, (str, Path)):
        path = Path(clip)
        try:
            size = path.stat().st_size
        except OSError as exc:
            raise BadAudio(f"cannot read {path.name}: {exc.strerror}") from None
        if size == 0:
            raise EmptyAudio(f"{path.name} is empty (0 bytes)")
        with path.open("rb") as handle:
            return _load(handle, path, rate=rate, max_seconds=max_seconds, raw_rate=raw_rate)
    if not clip:
        raise EmptyAudio("the clip is empty (0 bytes)")
    return _load(io.BytesIO(clip), clip, rate=rate, max_seconds=max_seconds, raw_rate=raw_rate)


def _load(
    handle: BinaryIO, origin: bytes | Path, *, rate: int, max_seconds: float, raw_rate: int | None
) -> Pcm:
    if raw_rate is not None:
        _check_rate(raw_rate)
        data = handle.read(int(max_seconds * raw_rate) * 2)
        data = data[: len(data) - len(data) % 2]
        return _convert(data, width=2, channels=1, source_rate=raw_rate, rate=rate)
    head = handle.read(12)
    handle.seek(0)
    if head[:4] == b"RIFF" and head[8:12] == b"WAVE":
        try:
            return _read_wav(handle, rate=rate, max_seconds=max_seconds)
        except wave.Error:
            handle.seek(0)  # a WAV that is not PCM (µ-law, GSM, float): ffmpeg reads those
        except EOFError:
            raise BadAudio("the WAV file is cut short") from None
    return _ffmpeg(origin, rate=rate, max_seconds=max_seconds)


def _read_wav(handle: BinaryIO, *, rate: int, max_seconds: float) -> Pcm:
    with wave.open(handle, "rb") as wav:
        channels, width, source_rate = wav.getnchannels(), wav.getsampwidth(), wav.getframerate()
        _check_rate(source_rate)
        if not 1 <= channels <= 8 or width not in (1, 2, 3, 4):
            raise BadAudio(f"unsupported WAV: {channels} channels of {width} bytes")
        # readframes stops at the data chunk's end even when the header lies about nframes.
        data = wav.readframes(int(max_seconds * source_rate))
    frame = channels * width
    data = data[: len(data) - len(data) % frame]
    if width == 1:  # WAV stores 8-bit samples unsigned
        data = audioop.bias(data, 1, -128)
    return _convert(data, width=width, channels=channels, source_rate=source_rate, rate=rate)


def _convert(data: bytes, *, width: int, channels: int, source_rate: int, rate: int) -> Pcm:
    if not data:
        raise EmptyAudio("the clip has no samples")
    segment = AudioSegment(data=data, sample_width=width, frame_rate=source_rate, channels=channels)
    segment = segment.set_channels(1).set_sample_width(2).set_frame_rate(rate)
    return Pcm(segment.raw_data, rate)


def _ffmpeg(origin: bytes | Path, *, rate: int, max_seconds: float) -> Pcm:
    command = [
        "ffmpeg",
        "-nostdin",
        "-hide_banner",
        "-loglevel",
        "error",
        "-t",
        f"{max_seconds:.3f}",
    ]
    source = "pipe:0" if isinstance(origin, bytes) else str(origin)
    command += ["-i", source, "-vn", "-f", "s16le", "-ac", "1", "-ar", str(rate), "pipe:1"]
    try:
        done = subprocess.run(
            command,
            input=origin if isinstance(origin, bytes) else None,
            stdin=None if isinstance(origin, bytes) else subprocess.DEVNULL,
            capture_output=True,
            timeout=FFMPEG_TIMEOUT,
            check=False,
        )
    except subprocess.TimeoutExpired:
        raise BadAudio(
            f"ffmpeg took longer than {FFMPEG_TIMEOUT:.0f} s to decode the clip"
        ) from None
    except OSError as exc:
        raise BadAudio(f"cannot run ffmpeg: {exc.strerror}") from None
    if done.returncode != 0:
        message = done.stderr.decode("utf-8", "replace").strip().splitlines()
        raise BadAudio(f"not audio ffmpeg can read: {message[-1] if message else done.returncode}")
    data = done.stdout[: int(max_seconds * rate) * 2]
    data = data[: len(data) - len(data) % 2]
    if not data:
        raise EmptyAudio("the clip has no samples")
    return Pcm(data, rate)


def _check_rate(rate: int) -> None:
    if not MIN_RATE <= rate <= MAX_RATE:
        raise BadAudio(f"impossible sample rate {rate} Hz")


def chunks(pcm: Pcm, frames: int = 4000) -> list[bytes]:
    """The clip cut into pieces of ``frames`` samples, as fed to Vosk."""
    step = frames * 2
    return [pcm.data[i : i + step] for i in range(0, len(pcm.data), step)]
