"""Fixtures every test folder shares: operational stores on SQLite and PostgreSQL, free loopback ports."""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from backinstock.settings import Settings, load_settings
from backinstock.store.engine import create_store_engine
from backinstock.store.migrate import upgrade

POSTGRES_URL_VARIABLE = "BACKINSTOCK_TEST_POSTGRES_URL"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A migrated, empty operational store: SQLite in tmp_path, or a fresh PostgreSQL schema.

    PostgreSQL runs only when BACKINSTOCK_TEST_POSTGRES_URL is set (`.ci/run` sets it); otherwise those
    cases are skipped and pytest's summary says so.
    """
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'store.db'}"
        upgrade(create_store_engine(url))
        yield url
        return
    base = os.environ.get(POSTGRES_URL_VARIABLE)
    if not base:
        pytest.skip(f"PostgreSQL store tests left out: set {POSTGRES_URL_VARIABLE} to run them")
    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = create_store_engine(base)
    with admin.begin() as connection:
        connection.exec_driver_sql(f"CREATE SCHEMA {schema}")
    separator = "&" if "?" in base else "?"
    url = f"{base}{separator}options=-csearch_path%3D{schema}"
    upgrade(create_store_engine(url))
    try:
        yield url
    finally:
        with admin.begin() as connection:
            connection.exec_driver_sql(f"DROP SCHEMA {schema} CASCADE")
        admin.dispose()


@pytest.fixture
def store_engine(store_url: str) -> Iterator[sa.Engine]:
    engine = create_store_engine(store_url)
    yield engine
    engine.dispose()


@pytest.fixture
def settings(tmp_path: Path, store_url: str) -> Settings:
    """Settings whose files all live in tmp_path, on the parametrised store."""
    return load_settings(
        data_dir=tmp_path / "data",
        store_url=store_url,
        secret_key="test-secret-key",
        shops=[
            {
                "domain": "test-shop.myshopify.com",
                "access_token": "shpat_test",
                "webhook_secret": "whsec_test",
            }
        ],
    )


# The simulated worlds that several modules share (session fixtures that take minutes to build), and the
# time the first test of each may take with the world's build in it (the default 600 s is per test).
SHARED_WORLDS = {"finished_world": "e2e-world", "simulated_run": "console-world"}
WORLD_TIMEOUT_SECONDS = 1800


@pytest.hookimpl(tryfirst=True)  # before pytest-xdist reads the groups
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """`make test` runs on two pytest-xdist workers (`--dist loadgroup`): tests that share an expensive
    fixture go to one worker so it is built once and its tests keep their order: a simulated world by
    name, a module-scoped fixture by module. (pytest is held below 9 for this: pytest-xdist 3.8 names the
    group in the node id, which pytest 9.2 no longer reads.)"""
    for item in items:
        group = next((SHARED_WORLDS[name] for name in item.fixturenames if name in SHARED_WORLDS), None)
        if group is not None:
            item.add_marker(pytest.mark.timeout(WORLD_TIMEOUT_SECONDS))
        elif _uses_module_fixture(item):
            group = item.module.__name__
        if group is not None:
            item.add_marker(pytest.mark.xdist_group(group))


def _uses_module_fixture(item: pytest.Item) -> bool:
    definitions = getattr(item, "_fixtureinfo", None)
    if definitions is None:
        return False
    return any(chain[-1].scope == "module" for chain in definitions.name2fixturedefs.values() if chain)
