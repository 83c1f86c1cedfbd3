"""Render one prompt to the audio each platform plays.

Strategy: espeak-ng (Debian's package) speaks the text into a WAV at its own rate
(22 050 Hz); a studio recording may come at any rate.  pydub hands both to ffmpeg,
whose resampler filters properly, to make:

* ``<id>.wav``  — 8 kHz mono signed 16-bit PCM: Asterisk's ``format_wav`` plays it,
  and Twilio's ``<Play>`` accepts the same bytes;
* ``<id>.ulaw`` — 8 kHz raw G.711 µ-law: what an Asterisk channel on ulaw plays
  without transcoding (Asterisk picks the cheapest format present).

``.sln16`` is 16 kHz signed linear, of no use for 8 kHz telephone audio, so it is
not produced.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from pydub import AudioSegment

# Bump when the output of the same text and voice changes (new filter, new formats).
RENDERER_VERSION = "espeak-ng/pcm8k-ulaw/1"
TELEPHONE_RATE = 8000
ESPEAK_TIMEOUT = 30.0
ESPEAK = "espeak-ng"


def ffmpeg_program() -> str:
    """The converter pydub runs (``ffmpeg``, or what pydub was told to use)."""
    return str(AudioSegment.converter)


class PromptRenderError(Exception):
    """A prompt that could not be rendered, named so a supervisor can find it."""

    def __init__(self, prompt_id: str, lang: str, reason: str) -> None:
        super().__init__(f"prompt '{prompt_id}' ({lang}): {reason}")
        self.prompt_id = prompt_id
        self.lang = lang
        self.reason = reason


def synthesise(text: str, voice: str, wav_path: Path, *, espeak: str = ESPEAK) -> None:
    """Speak ``text`` with espeak-ng into ``wav_path``; raise ``RuntimeError`` with the reason.

    The text goes through stdin (``--stdin``), so a text starting with ``-`` is not
    taken for an option, and ``-b 1`` says it is UTF-8 whatever the locale.
    """
    if shutil.which(espeak) is None:
        raise RuntimeError(f"{espeak} is not installed (apt-get install espeak-ng)")
    try:
        done = subprocess.run(
            [espeak, "-b", "1", "-v", voice, "-w", str(wav_path), "--stdin"],
            input=text.encode("utf-8"),
            capture_output=True,
            timeout=ESPEAK_TIMEOUT,
            check=False,
        )
    except subprocess.TimeoutExpired:
        raise RuntimeError(f"{espeak} took longer than {ESPEAK_TIMEOUT:.0f} s") from None
    message = done.stderr.decode("utf-8", "replace").strip()
    if done.returncode != 0 or message.startswith("Error"):
        raise RuntimeError(
            f"{espeak} -v {voice} failed: {message or f'exit code {done.returncode}'}"
        )
    if not wav_path.exists() or wav_path.stat().st_size <= 44:
        raise RuntimeError(f"{espeak} -v {voice} produced no audio")


def to_telephone(source: Path, wav_out: Path, ulaw_out: Path) -> float:
    """Convert ``source`` (any audio ffmpeg reads) to 8 kHz mono; returns seconds of audio."""
    try:
        segment = AudioSegment.from_file(str(source))
    except Exception as exc:  # noqa: BLE001 -- pydub raises CouldntDecodeError, IndexError, OSError...
        raise RuntimeError(f"cannot read audio {source.name}: {_first_line(exc)}") from None
    if len(segment) == 0:
        raise RuntimeError("the audio is empty")
    mono = segment.set_channels(1)
    export_telephone(mono, wav_out)
    _export(mono, ulaw_out, "mulaw", codec="pcm_mulaw")
    return len(mono) / 1000.0


def export_telephone(segment: AudioSegment, wav_out: Path) -> None:
    """``segment`` as 8 kHz mono signed 16-bit WAV (what Asterisk's ``format_wav`` plays and
    its ``RECORD FILE`` writes) at ``wav_out``, atomically."""
    _export(segment.set_channels(1), wav_out, "wav", codec="pcm_s16le")


def _export(segment: AudioSegment, path: Path, fmt: str, *, codec: str) -> None:
    """Export through ffmpeg (its resampler) into ``path`` atomically."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        handle = segment.export(
            tmp, format=fmt, codec=codec, parameters=["-ar", str(TELEPHONE_RATE), "-ac", "1"]
        )
        handle.close()
        os.replace(tmp, path)
    except Exception as exc:  # noqa: BLE001 -- pydub: CouldntEncodeError, OSError, ...
        raise RuntimeError(f"ffmpeg could not write {path.name}: {_first_line(exc)}") from None
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def _first_line(exc: BaseException) -> str:
    """The gist of an error: its first line, and the last one (ffmpeg's complaint) if different."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()] or [type(exc).__name__]
    return lines[0] if len(lines) == 1 else f"{lines[0]} … {lines[-1]}"
