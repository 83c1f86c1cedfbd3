from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from harness import Harness
from world import World, hotline_menu


@pytest.fixture(scope="session")
def menu():  # type: ignore[no-untyped-def]
    return hotline_menu()


@pytest.fixture
def harness(menu) -> Iterator[Harness]:  # type: ignore[no-untyped-def]
    h = Harness(menu, World())
    yield h
    h.server.shutdown(2.0)
