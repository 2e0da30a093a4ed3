"""The migrations build the schema the code declares (`backinstock.store.tables`), on both stores: a table,
column or index added to one and not the other fails here."""

from __future__ import annotations

import re

import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from seed_rows import CONSENT, NOW, SHOP, signup

from backinstock import consent
from backinstock.settings import load_settings
from backinstock.store.engine import create_store_engine
from backinstock.store.migrate import upgrade
from backinstock.store.tables import metadata
from backinstock.unsubscribes import Unsubscribe, apply


def test_migrations_match_the_declared_tables(store_engine: sa.Engine) -> None:
    with store_engine.connect() as connection:
        differences = compare_metadata(MigrationContext.configure(connection), metadata)
    assert differences == []


def _statements_of(engine: sa.Engine, work) -> list[tuple[str, object]]:
    """Every statement `work(connection)` executes, with its parameters (rolled back afterwards)."""
    seen: list[tuple[str, object]] = []

    def record(_conn, _cursor, statement, parameters, _context, _many) -> None:
        seen.append((statement, parameters))

    sa.event.listen(engine, "before_cursor_execute", record)
    try:
        with engine.connect() as connection:
            work(connection)
            connection.rollback()
    finally:
        sa.event.remove(engine, "before_cursor_execute", record)
    return seen


def test_a_signup_and_an_unsubscribe_read_no_table_whole(tmp_path) -> None:
    """SQLite's plan for each statement of the storefront's two busiest requests reads an index, and one
    on the contact where the statement asks for a contact: a scan grows with the store (an unsubscribe read
    every pending message, found by their status, until the outbox had its contact index)."""
    engine = create_store_engine(f"sqlite:///{tmp_path / 'store.db'}")
    upgrade(engine)
    settings = load_settings(data_dir=tmp_path, store_url=str(engine.url), secret_key="k", shops=[])
    with engine.begin() as connection:
        subscription_id = signup(connection, "known@example.com")

    def sign_up(connection: sa.Connection) -> None:
        consent.sign_up(
            connection,
            settings,
            shop=SHOP,
            variant_id="gid://shopify/ProductVariant/1",
            product_id="gid://shopify/Product/1001",
            channel="email",
            contact="new@example.com",
            locale="en",
            client_id=None,
            consent=CONSENT,
            now=NOW,
        )

    def unsubscribe(connection: sa.Connection) -> None:
        apply(connection, Unsubscribe(shop=SHOP, subscription_id=subscription_id, at=NOW))

    for work in (sign_up, unsubscribe):
        statements = _statements_of(engine, work)
        assert len(statements) >= 3
        with engine.connect() as connection:
            for statement, parameters in statements:
                plan = connection.exec_driver_sql(f"EXPLAIN QUERY PLAN {statement}", parameters).all()
                steps = " | ".join(row[-1] for row in plan)
                assert not re.search(r"\bSCAN (?!CONSTANT)", steps), (work.__name__, statement, steps)
                if re.search(r"WHERE .*\bcontact = \?", statement, re.DOTALL):  # found by its contact
                    assert "contact=?" in steps, (work.__name__, statement, steps)
    engine.dispose()
