"""The migrations build the schema the code declares (`backinstock.store.tables`), on both stores: a table,
column or index added to one and not the other fails here."""

from __future__ import annotations

import re

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from recorded_statements import statements_of
from seed_rows import CONSENT, NOW, SHOP, signup

from backinstock import consent
from backinstock.settings import load_settings
from backinstock.store import signup_facts
from backinstock.store.engine import create_store_engine
from backinstock.store.migrate import upgrade
from backinstock.store.tables import metadata
from backinstock.unsubscribes import Unsubscribe, apply


def test_migrations_match_the_declared_tables(store_engine: sa.Engine) -> None:
    with store_engine.connect() as connection:
        differences = compare_metadata(MigrationContext.configure(connection), metadata)
    assert differences == []


def _busiest_work(engine: sa.Engine, settings) -> tuple:
    """The store work of a signup (its facts read, then written) and of a one-click unsubscribe."""
    with engine.begin() as connection:
        subscription_id = signup(connection, "known@example.com")

    def sign_up(connection: sa.Connection) -> None:
        signup_facts.signup_facts(
            connection,
            shop=SHOP,
            variant_id="1",
            channel="email",
            contact="new@example.com",
            locale="pt-BR",
            consent_version=None,
        )
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

    return sign_up, unsubscribe


def test_a_signup_and_an_unsubscribe_read_no_table_whole(tmp_path) -> None:
    """SQLite's plan for each statement of the storefront's two busiest requests reads an index, and one
    on the contact where the statement asks for a contact: a scan grows with the store (an unsubscribe read
    every pending message, found by their status, until the outbox had its contact index)."""
    engine = create_store_engine(f"sqlite:///{tmp_path / 'store.db'}")
    upgrade(engine)
    settings = load_settings(data_dir=tmp_path, store_url=str(engine.url), secret_key="k", shops=[])
    for work in _busiest_work(engine, settings):
        statements = statements_of(engine, work)
        assert len(statements) >= 4
        with engine.connect() as connection:
            for statement, parameters in statements:
                plan = connection.exec_driver_sql(f"EXPLAIN QUERY PLAN {statement}", parameters).all()
                steps = " | ".join(row[-1] for row in plan)
                # (one_row: the constant row a signup's facts hang from, signup_facts._facts)
                assert not re.search(r"\bSCAN (?!CONSTANT|one_row\b)", steps), (
                    work.__name__,
                    statement,
                    steps,
                )
                if re.search(r"WHERE .*\bcontact = \?", statement, re.DOTALL):  # found by its contact
                    assert "contact=?" in steps, (work.__name__, statement, steps)
    engine.dispose()


def test_postgresql_can_serve_a_signup_and_an_unsubscribe_from_indexes(store_engine, tmp_path) -> None:
    """On PostgreSQL a signup is two statements and an unsubscribe one (CTEs). With 5,000 confirmations
    pending (the benchmark's signup phase leaves ~10k) and sequential scans priced out (the small tables
    would be scanned anyway), every table is read through an index, and a person's rows through one on
    their contact (or the primary key), not among every pending message."""
    if store_engine.dialect.name != "postgresql":
        pytest.skip("SQLite's plans are checked above")
    settings = load_settings(data_dir=tmp_path, store_url=str(store_engine.url), secret_key="k", shops=[])
    sign_up, unsubscribe = _busiest_work(store_engine, settings)
    with store_engine.begin() as connection:
        connection.execute(
            sa.text(
                "INSERT INTO outbox_messages (shop, kind, channel, contact, locale, status, due_at, "
                "attempt_count, created_at, updated_at) SELECT :shop, 'confirmation', 'email', "
                "'p' || n || '@example.com', 'en', 'pending', :now, 0, :now, :now "
                "FROM generate_series(1, 5000) AS n"
            ),
            {"shop": SHOP, "now": NOW.replace(tzinfo=None)},
        )
        connection.exec_driver_sql("ANALYZE")
    for work, count in ((sign_up, 3), (unsubscribe, 1)):
        statements = statements_of(store_engine, work)
        assert len(statements) == count, (work.__name__, [statement for statement, _ in statements])
        with store_engine.connect() as connection:
            connection.exec_driver_sql("SET enable_seqscan = off")
            for statement, parameters in statements:
                plan = "\n".join(connection.exec_driver_sql(f"EXPLAIN {statement}", parameters).scalars())
                assert "Seq Scan" not in plan, (work.__name__, statement, plan)
                for index in re.findall(r"(?:Index (?:Only )?Scan using|Bitmap Index Scan on) (\w+)", plan):
                    table, definition = connection.execute(
                        sa.text(
                            "SELECT tablename, indexdef FROM pg_indexes "
                            "WHERE indexname = :name AND schemaname = current_schema()"
                        ),
                        {"name": index},
                    ).one()
                    if table in ("subscriptions", "outbox_messages"):
                        assert index.startswith("pk_") or "contact" in definition, (statement, plan)
