"""Does the recogniser's bounded pool keep the AGI threads responsive?

    python bench/speech_bench.py [--calls 200] [--seconds 4]

A latency probe stands for the AGI threads: ``--agi`` threads each do a small piece
of pure-Python work (parse an AGI reply, build the next command, JSON for the
routing context) then wait 5 ms as if on the socket.  The probe's p50/p99 latency
is measured with no recognition, with ``--calls`` simultaneous recognitions through
the bounded pool (``workers`` 1 and 2), and with an unbounded pool (one thread per
call, what a naive handler would do).  Figures are ratios to the idle probe.

With ``VOSK_MODEL_PATH`` set, the recognitions are real (espeak-ng Russian at 8 kHz,
resampled, Vosk).  Without a model the decoder is a STAND-IN, clearly labelled:
real clip loading and resampling, then per 4000-frame chunk ~25 ms of CPU in
hashlib, which like Vosk's C code runs without the GIL (about 0.1 real-time
factor, the small Russian model's order of magnitude on one core).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests" / "speech"))

from speechkit import espeak_ru, vosk_result

from ivr.speech.recogniser import Recogniser, Recognition

_BLOCK = os.urandom(1 << 20)


def _hash_once() -> None:
    hashlib.sha256(_BLOCK[: 64 * 1024]).digest()  # releases the GIL, like Vosk


def _calibrate() -> float:
    """Hashes per CPU-second on this machine, measured alone."""
    started = time.thread_time()
    count = 0
    while time.thread_time() - started < 0.3:
        _hash_once()
        count += 1
    return count / (time.thread_time() - started)


_PER_SECOND = _calibrate()


def _burn(cpu_seconds: float) -> None:
    """A fixed amount of work (not of wall time): contention makes it take longer."""
    for _ in range(max(1, int(cpu_seconds * _PER_SECOND))):
        _hash_once()


class StandInKaldi:
    """STAND-IN decoder (no model): CPU without the GIL in proportion to the audio."""

    def __init__(self, model: object, rate: int, grammar: str | None) -> None:
        self.rate = rate

    def SetWords(self, enable_words: bool) -> None:
        pass

    def AcceptWaveform(self, data: bytes) -> int:
        _burn(0.1 * len(data) / 2 / self.rate)
        return 0

    def Result(self) -> str:
        return '{"text": ""}'

    def FinalResult(self) -> str:
        return str(vosk_result(("да", 0.9)))


def agi_work() -> None:
    reply = "200 result=49 (timeout) endpos=12345\n"
    code, _, rest = reply.partition(" ")
    fields = dict(part.split("=", 1) for part in rest.split() if "=" in part)
    context = {
        "caller": "+79990001122",
        "menu": "hotline",
        "digits": fields["result"],
        "code": code,
    }
    for _ in range(40):
        json.loads(json.dumps(context))
    f'STREAM FILE /var/sounds/ru/menu.main "0123456789*#" {fields["endpos"]}\n'.encode()


def probe(threads: int, seconds: float) -> list[float]:
    latencies: list[float] = []
    lock = threading.Lock()
    stop = time.perf_counter() + seconds

    def run() -> None:  # latency = work + how late the thread wakes from its 5 ms wait
        mine: list[float] = []
        while time.perf_counter() < stop:
            started = time.perf_counter()
            agi_work()
            time.sleep(0.005)
            mine.append(time.perf_counter() - started - 0.005)
        with lock:
            latencies.extend(mine)

    workers = [threading.Thread(target=run) for _ in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    return latencies


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(p * len(ordered)))]


def scenario(
    name: str, recogniser: Recogniser | None, clip: Path, args: argparse.Namespace
) -> dict[str, float]:
    futures: list[Recognition] = []
    load_stop = threading.Event()

    def caller() -> None:  # speaks, waits for the answer, speaks again after 0.5 s
        assert recogniser is not None
        while not load_stop.is_set():
            futures.append(recogniser.recognise(clip, mode="yes_no", language="ru"))
            load_stop.wait(0.5)

    callers = [threading.Thread(target=caller) for _ in range(args.calls if recogniser else 0)]
    for c in callers:
        c.start()
    time.sleep(0.5 if callers else 0)
    lat = probe(args.agi, args.seconds)
    load_stop.set()
    for c in callers:
        c.join()
    if recogniser is not None:
        recogniser.close()
    heard = sum(1 for r in futures if r.status == "heard")
    busy = sum(1 for r in futures if r.status == "busy")
    waits = [r.elapsed for r in futures if r.status == "heard"]
    return {
        "p50_ms": 1000 * statistics.median(lat),
        "p99_ms": 1000 * pct(lat, 0.99),
        "probe_ops": len(lat) / args.seconds,
        "recognised_per_s": heard / args.seconds,
        "busy": busy,
        "answer_p50_s": statistics.median(waits) if waits else 0.0,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=200, help="callers speaking at once")
    parser.add_argument("--agi", type=int, default=20, help="AGI threads in the probe")
    parser.add_argument("--seconds", type=float, default=4.0)
    args = parser.parse_args()
    model = os.environ.get("VOSK_MODEL_PATH", "").strip() or None
    kind = f"REAL Vosk model at {model}" if model else "STAND-IN decoder (no Vosk model here)"
    print(
        f"speech bench: {kind}; {os.cpu_count()} CPUs; {args.calls} callers; {args.agi} AGI threads"
    )
    with tempfile.TemporaryDirectory() as tmp:
        clip = espeak_ru("да, я согласен", Path(tmp) / "clip.wav", rate=8000)
        if model is None:
            (Path(tmp) / "model").mkdir()

        def make(workers: int, queue: int) -> Recogniser:
            if model is not None:
                service = Recogniser(model, workers=workers, queue=queue, timeout=30)
            else:
                service = Recogniser(
                    str(Path(tmp) / "model"),
                    workers=workers,
                    queue=queue,
                    timeout=30,
                    model_factory=lambda _p: object(),
                    recognizer_factory=StandInKaldi,
                )
            service.warm_up()
            return service

        runs = {
            "idle (no recognition)": scenario("idle", None, clip, args),
            "bounded pool, 1 worker, queue 50": scenario("w1", make(1, 50), clip, args),
            "bounded pool, 2 workers, queue 50": scenario("w2", make(2, 50), clip, args),
            f"unbounded ({args.calls} threads)": scenario("free", make(args.calls, 0), clip, args),
        }
    base = runs["idle (no recognition)"]
    print(
        f"{'scenario':38} {'p50 ms':>7} {'p99 ms':>7} {'p99 x':>6} {'probe/s':>8} {'recog/s':>8} {'busy':>6} {'answer p50 s':>12}"
    )
    for name, r in runs.items():
        print(
            f"{name:38} {r['p50_ms']:7.2f} {r['p99_ms']:7.2f} {r['p99_ms'] / base['p99_ms']:6.2f} "
            f"{r['probe_ops']:8.0f} {r['recognised_per_s']:8.1f} {r['busy']:6.0f} {r['answer_p50_s']:12.2f}"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
