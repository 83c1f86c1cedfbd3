"""Test helpers: Russian speech from espeak-ng at telephone quality, and a scripted recognizer.

``ScriptedKaldi`` stands in for ``vosk.KaldiRecognizer`` ONLY — the one object that
cannot exist without a model.  It records what the pipeline fed it (rate, grammar,
chunks) and answers with Vosk's real JSON shapes.  Everything before it (espeak-ng,
ffmpeg, resampling, chunking, grammar) is real.
"""

from __future__ import annotations

import json
import subprocess
import tempfile
import threading
import time
from collections.abc import Sequence
from pathlib import Path

from pydub import AudioSegment


def espeak_ru(text: str, out: Path, *, rate: int = 8000, voice: str = "ru") -> Path:
    """``text`` spoken by ``espeak-ng -v ru``, as Asterisk records it: mono s16 WAV at ``rate``."""
    with tempfile.TemporaryDirectory() as tmp:
        raw = Path(tmp) / "tts.wav"
        subprocess.run(
            ["espeak-ng", "-b", "1", "-v", voice, "-w", str(raw), "--stdin"],
            input=text.encode(),
            check=True,
            capture_output=True,
        )
        segment = AudioSegment.from_wav(str(raw))
        handle = segment.export(
            str(out), format="wav", codec="pcm_s16le", parameters=["-ar", str(rate), "-ac", "1"]
        )
        handle.close()
    return out


def vosk_result(*words: tuple[str, float]) -> str:
    """A final result as Vosk prints it with SetWords(True)."""
    items = [
        {"conf": conf, "end": 0.5 + 0.3 * (i + 1), "start": 0.5 + 0.3 * i, "word": word}
        for i, (word, conf) in enumerate(words)
    ]
    text = " ".join(word for word, _ in words)
    return (
        json.dumps({"result": items, "text": text}, ensure_ascii=False) if items else '{"text": ""}'
    )


class ScriptedKaldi:
    """Answers ``results`` one by one as utterance ends, then ``final``."""

    def __init__(
        self,
        rate: int,
        grammar: str | None,
        *,
        final: str = '{"text": ""}',
        results: Sequence[str] = (),
        endpoint_every: int = 0,
        delay: float = 0.0,
        gate: threading.Event | None = None,
    ) -> None:
        self.rate = rate
        self.grammar = grammar
        self.final = final
        self.results = list(results)
        self.endpoint_every = endpoint_every
        self.delay = delay
        self.gate = gate
        self.words_enabled = False
        self.chunks: list[int] = []

    def SetWords(self, enable_words: bool) -> None:
        self.words_enabled = enable_words

    def AcceptWaveform(self, data: bytes) -> int:
        if self.gate is not None:
            self.gate.wait(5)
        if self.delay:
            time.sleep(self.delay)
        self.chunks.append(len(data))
        endpoint = self.endpoint_every and len(self.chunks) % self.endpoint_every == 0
        return 1 if endpoint and self.results else 0

    def Result(self) -> str:
        return self.results.pop(0) if self.results else '{"text": ""}'

    def FinalResult(self) -> str:
        return self.final
