"""What a newcomer reads at the first start: nothing about files of the repository itself."""

from __future__ import annotations

import time

from tests.journeys.product import Product, until


def test_the_first_start_finds_nothing_unexpected_in_the_recordings_store(product: Product) -> None:
    serving = product.serve()
    until(lambda: serving.get("/readyz").status == 200, 20, what="the engine ready")
    time.sleep(3)  # the store's first reconcile runs with the background work, about 1 s in
    serving.stop()
    log = serving.log()
    assert "unexpected file" not in log, log
    assert (product.root / "recordings").is_dir()
    assert (product.root / "recordings").stat().st_mode & 0o077 == 0  # the store's own 0700


def test_the_first_start_says_once_that_speech_recognition_is_off(product: Product) -> None:
    """Without a Vosk model the start-up log says so once (a warning), not twice."""
    serving = product.serve()
    until(lambda: serving.get("/readyz").status == 200, 20, what="the engine ready")
    serving.stop()
    log = serving.log()
    assert log.count("speech recognition: OFF") == 1, log
