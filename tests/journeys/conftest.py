"""Journeys: the product run the way its users run it (see ``product.py``)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.console.live import CHROMEDRIVER, CHROMIUM, headless_chromium
from tests.journeys.product import Product, product_in


@pytest.fixture()
def product(tmp_path: Path) -> Iterator[Product]:
    """A fresh copy of the repository, nothing run in it yet."""
    with product_in(tmp_path) as fresh:
        yield fresh


@pytest.fixture()
def browser() -> Iterator[Any]:
    """Real headless Chromium (Debian's), a profile of its own."""
    if not (os.path.exists(CHROMIUM) and os.path.exists(CHROMEDRIVER)):
        pytest.fail("the journeys need Debian's chromium and chromium-driver (scripts/setup.sh --test)")
    with headless_chromium() as driver:
        yield driver
