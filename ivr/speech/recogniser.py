"""The recogniser service: one Vosk model per process, one KaldiRecognizer per utterance.

Strategy:

* The model is loaded lazily, once, under a lock, on the first recognition (or on
  :meth:`Recogniser.warm_up`), and shared by every call.  A missing or broken model
  is said once, clearly, in the log; from then on :attr:`Recogniser.available` is
  False and every speech node takes its key or operator fallback.
* Recognition is CPU-heavy, so it runs in a bounded pool: ``workers`` threads
  decode at once (Vosk's C code runs without the GIL), at most ``queue`` more wait.
  Anything beyond is answered ``busy`` at once, never queued behind a thousand calls:
  the AGI threads stay responsive and the caller is offered keys.
* Every utterance has a deadline (``timeout``).  A job that waited past it is
  dropped unrun; a running one stops feeding audio and returns what it has.
* Audio is converted to the model's rate first (:mod:`ivr.speech.audio`) and fed in
  chunks of 4000 frames; ``SetWords(True)`` gives each word's confidence.

The Vosk objects are built by two factories, ``model_factory`` and
``recognizer_factory``, so the whole pipeline can be exercised without a model.
"""

from __future__ import annotations

import json
import logging
import os
import re
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Protocol

from ivr.speech.audio import AudioProblem, chunks, load_clip
from ivr.speech.grammar import UNKNOWN, Mode, grammar_for, grammar_json

if TYPE_CHECKING:
    from ivr.config.schema import SpeechSettings

log = logging.getLogger(__name__)

CHUNK_FRAMES = 4000
DEFAULT_RATE = 16000

Status = Literal["heard", "nothing", "off", "busy", "timeout"]


@dataclass(frozen=True)
class Word:
    word: str
    conf: float
    start: float
    end: float


@dataclass(frozen=True)
class Recognition:
    """What a caller said, as the flow engine gets it.

    ``status``: ``heard`` (text is not empty), ``nothing`` (silence, noise, bad or
    empty audio, only ``[unk]``), ``off`` (no model), ``busy`` (the pool is full),
    ``timeout``.  ``confidence`` is the mean of the words' ``conf``, 0.0 when nothing.
    """

    text: str
    confidence: float
    words: tuple[Word, ...] = ()
    duration: float = 0.0  # seconds of audio recognised
    status: Status = "heard"
    reason: str = ""  # why nothing / off / busy / timeout, for the log
    elapsed: float = 0.0  # seconds from submission to the answer

    def passes(self, threshold: float) -> bool:
        """Heard with at least ``threshold`` confidence (the node's threshold)."""
        return self.status == "heard" and self.confidence >= threshold


def nothing(status: Status, reason: str, *, duration: float = 0.0) -> Recognition:
    return Recognition("", 0.0, (), duration, status, reason)


class KaldiLike(Protocol):
    """The part of ``vosk.KaldiRecognizer`` used here (Vosk's own method names)."""

    def SetWords(self, enable_words: bool) -> None: ...
    def AcceptWaveform(self, data: bytes) -> int: ...
    def Result(self) -> str: ...
    def FinalResult(self) -> str: ...


ModelFactory = Callable[[str], object]
RecognizerFactory = Callable[[object, int, "str | None"], KaldiLike]


def vosk_model(path: str) -> object:
    import vosk

    vosk.SetLogLevel(-1)
    return vosk.Model(path)


def vosk_recognizer(model: object, rate: int, grammar: str | None) -> KaldiLike:
    import vosk

    if grammar is None:
        recognizer: KaldiLike = vosk.KaldiRecognizer(model, rate)
    else:
        recognizer = vosk.KaldiRecognizer(model, rate, grammar)
    return recognizer


def model_sample_rate(path: str | Path) -> int:
    """The rate a Vosk model wants, from ``conf/mfcc.conf`` (``--sample-frequency=16000``)."""
    try:
        text = (Path(path) / "conf" / "mfcc.conf").read_text(encoding="utf-8", errors="replace")
    except OSError:
        return DEFAULT_RATE
    found = re.search(r"--sample-frequency=(\d+)", text)
    return int(found.group(1)) if found else DEFAULT_RATE


def parse_result(raw: str) -> tuple[Word, ...]:
    """Words of one Vosk result, without ``[unk]``.

    Vosk's final result with ``SetWords(True)``::

        {"result": [{"conf": 1.0, "end": 1.02, "start": 0.5, "word": "да"}], "text": "да"}

    and ``{"text": ""}`` when nothing was said; ``{"partial": "..."}`` is a partial
    result and carries no words.  A reply that is not JSON counts as nothing.
    """
    try:
        data = json.loads(raw)
    except ValueError:
        return ()
    if not isinstance(data, dict):
        return ()
    words: list[Word] = []
    for item in data.get("result") or ():
        try:
            word = str(item["word"])
            if word == UNKNOWN:
                continue
            conf = min(1.0, max(0.0, float(item.get("conf", 0.0))))
            words.append(
                Word(word, conf, float(item.get("start", 0.0)), float(item.get("end", 0.0)))
            )
        except (KeyError, TypeError, ValueError):
            continue
    return tuple(words)


class Recogniser:
    """Speech to text for the whole process; thread-safe."""

    def __init__(
        self,
        model_path: str | None,
        *,
        workers: int = 2,
        max_seconds: float = 15.0,
        queue: int = 50,
        timeout: float = 10.0,
        language: str = "ru",
        model_factory: ModelFactory = vosk_model,
        recognizer_factory: RecognizerFactory = vosk_recognizer,
        on_result: Callable[[Recognition], None] | None = None,
    ) -> None:
        if workers < 1 or queue < 0 or timeout <= 0 or max_seconds <= 0:
            raise ValueError("workers >= 1, queue >= 0, timeout > 0 and max_seconds > 0")
        self.model_path = model_path
        self.workers = workers
        self.max_seconds = max_seconds
        self.timeout = timeout
        self.language = language
        self._model_factory = model_factory
        self._recognizer_factory = recognizer_factory
        self.on_result = on_result  # told every result (metrics: recognition time by status)
        self._lock = threading.Lock()
        self._model: object | None = None
        self._failure: str | None = None
        self._rate = DEFAULT_RATE
        self._slots = threading.BoundedSemaphore(workers + queue)
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="vosk")
        self._stats_lock = threading.Lock()
        self.stats: dict[str, int] = {"heard": 0, "nothing": 0, "off": 0, "busy": 0, "timeout": 0}
        if model_path is None:
            self._failure = "no Vosk model configured; set VOSK_MODEL_PATH or speech.vosk_model"
        elif not os.path.isdir(model_path):
            self._failure = f"Vosk model not found at {model_path}"
        else:
            self._rate = model_sample_rate(model_path)
        if self._failure is not None:
            log.warning("speech recognition: OFF (%s)", self._failure)

    @classmethod
    def from_config(
        cls, speech: SpeechSettings, *, env_model_path: str | None = None, **kw: Any
    ) -> Recogniser:
        """From ``config.speech`` and ``Secrets.vosk_model_path`` (which wins)."""
        return cls(
            env_model_path or speech.vosk_model,
            workers=speech.workers,
            max_seconds=speech.max_seconds,
            queue=speech.queue,
            timeout=speech.timeout,
            language=speech.language,
            **kw,
        )

    # -- state ------------------------------------------------------------------------

    @property
    def available(self) -> bool:
        """Whether speech nodes should listen; False means: use keys or an operator."""
        return self._failure is None

    def status_message(self) -> str:
        if self._failure is not None:
            return f"speech recognition: OFF ({self._failure})"
        loaded = "loaded" if self._model is not None else "loads on first use"
        return (
            f"speech recognition: ON (model at {self.model_path}, {self.language}, "
            f"{self._rate} Hz, {loaded}; {self.workers} workers)"
        )

    def warm_up(self) -> bool:
        """Load the model now (at engine start) rather than on the first call."""
        return self._load() is not None

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)

    def _load(self) -> object | None:
        if self._model is not None or self._failure is not None:
            return self._model
        with self._lock:
            if self._model is None and self._failure is None:
                assert self.model_path is not None
                started = time.monotonic()
                try:
                    self._model = self._model_factory(self.model_path)
                except Exception as exc:  # noqa: BLE001 -- vosk raises a bare Exception
                    self._failure = f"Vosk model at {self.model_path} failed to load: {exc}"
                    log.error("speech recognition: OFF (%s)", self._failure)
                else:
                    log.info(
                        "speech recognition: ON, model %s loaded in %.1f s",
                        self.model_path,
                        time.monotonic() - started,
                    )
        return self._model

    # -- recognition ------------------------------------------------------------------

    def submit(
        self,
        audio: bytes | str | Path,
        *,
        mode: Mode,
        language: str,
        grammar: Sequence[str] | None = None,
        keywords: Mapping[str, Sequence[str]] | Sequence[str] | None = None,
        raw_rate: int | None = None,
    ) -> Future[Recognition]:
        """Queue one utterance; the future always ends with a :class:`Recognition`.

        ``grammar``: the phrases allowed (keywords nodes pass theirs; ``None`` builds
        the grammar of ``mode``; free speech has none).  ``raw_rate``: the clip is
        headerless 16-bit linear at that rate (Asterisk ``.sln`` = 8000).
        """
        submitted = time.monotonic()
        done: Future[Recognition] = Future()
        if not self.available:
            return self._finish(done, nothing("off", self._failure or "off"), submitted)
        if language.split("-")[0].lower() != self.language.split("-")[0].lower():
            reason = f"the Vosk model is for '{self.language}', not '{language}'"
            return self._finish(done, nothing("off", reason), submitted)
        phrases = list(grammar) if grammar is not None else grammar_for(mode, language, keywords)
        grammar_text = None if phrases is None or mode == "free" else grammar_json(phrases)
        if not self._slots.acquire(blocking=False):
            busy = nothing("busy", f"{self.workers} recognitions running and the queue is full")
            return self._finish(done, busy, submitted)

        def work() -> Recognition:
            try:
                if time.monotonic() - submitted > self.timeout:
                    return nothing("timeout", "waited too long for a worker")
                return self._recognise_now(audio, grammar_text, raw_rate, submitted)
            finally:
                self._slots.release()

        inner = self._pool.submit(work)
        inner.add_done_callback(lambda f: self._finish(done, _outcome(f), submitted))
        return done

    def recognise(
        self,
        audio: bytes | str | Path,
        *,
        mode: Mode,
        language: str,
        grammar: Sequence[str] | None = None,
        keywords: Mapping[str, Sequence[str]] | Sequence[str] | None = None,
        raw_rate: int | None = None,
    ) -> Recognition:
        """Blocking :meth:`submit`, for an AGI thread; never waits beyond ``timeout``."""
        started = time.monotonic()
        future = self.submit(
            audio,
            mode=mode,
            language=language,
            grammar=grammar,
            keywords=keywords,
            raw_rate=raw_rate,
        )
        try:
            return future.result(timeout=self.timeout + 0.5)
        except FutureTimeout:
            # The worker stops at its own deadline and counts itself in ``stats``.
            return _with_elapsed(
                nothing("timeout", f"no answer within {self.timeout:.1f} s"), started
            )

    def _recognise_now(
        self, audio: bytes | str | Path, grammar: str | None, raw_rate: int | None, submitted: float
    ) -> Recognition:
        try:
            pcm = load_clip(audio, rate=self._rate, max_seconds=self.max_seconds, raw_rate=raw_rate)
        except AudioProblem as exc:
            return nothing("nothing", str(exc))
        if pcm.silent:
            return nothing("nothing", "silence", duration=pcm.seconds)
        model = self._load()
        if model is None:
            return nothing("off", self._failure or "off", duration=pcm.seconds)
        recognizer = self._recognizer_factory(model, pcm.rate, grammar)
        recognizer.SetWords(True)
        words: list[Word] = []
        deadline = submitted + self.timeout
        cut = False
        for chunk in chunks(pcm, CHUNK_FRAMES):
            if time.monotonic() > deadline:
                cut = True
                break
            if recognizer.AcceptWaveform(chunk):
                words.extend(parse_result(recognizer.Result()))
        words.extend(parse_result(recognizer.FinalResult()))
        if not words:
            status: Status = "timeout" if cut else "nothing"
            return nothing(status, "no words recognised", duration=pcm.seconds)
        text = " ".join(w.word for w in words)
        confidence = sum(w.conf for w in words) / len(words)
        return Recognition(text, round(confidence, 4), tuple(words), pcm.seconds, "heard")

    def _finish(
        self, done: Future[Recognition], result: Recognition, submitted: float
    ) -> Future[Recognition]:
        result = _with_elapsed(result, submitted)
        self._count(result)
        done.set_result(result)
        return done

    def _count(self, result: Recognition) -> None:
        with self._stats_lock:
            self.stats[result.status] += 1
        if self.on_result is not None:
            try:
                self.on_result(result)
            except Exception:  # counting must never lose a recognition
                log.exception("recognition observer failed")


def _outcome(future: Future[Recognition]) -> Recognition:
    if future.cancelled():
        return nothing("busy", "the recogniser is shutting down")
    error = future.exception()
    if error is not None:
        log.exception("speech recognition failed", exc_info=error)
        return nothing("nothing", f"recognition failed: {error}")
    return future.result()


def _with_elapsed(result: Recognition, started: float) -> Recognition:
    return replace(result, elapsed=round(time.monotonic() - started, 4))
