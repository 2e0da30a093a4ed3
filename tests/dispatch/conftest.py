"""The dispatcher's tests run against real things on loopback: see dispatch_harness.py."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "store"))  # seed_rows, shared with tests/store
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "simulator"))  # sim_harness: the simulated shop

from dispatch_harness import Delivery, delivery_world

from backinstock.settings import Settings


@pytest.fixture
def delivery(settings: Settings, store_url: str) -> Iterator[Delivery]:
    yield from delivery_world(settings, store_url)
