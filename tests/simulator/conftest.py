"""Fixtures for the simulator's tests: a stand-in storefront and a simulator serving on loopback."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from sim_harness import FakeStorefront, serving, world_config

from simulator.world import World


@pytest.fixture
def storefront() -> Iterator[FakeStorefront]:
    with FakeStorefront() as running:
        yield running


@pytest.fixture
def http() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=30.0) as client:
        yield client


@pytest.fixture
def small_world(storefront: FakeStorefront) -> World:
    return World(world_config(storefront.url))


@pytest.fixture
def simulator_url(small_world: World) -> Iterator[str]:
    with serving(small_world) as url:
        yield url
