"""Rule rows in the operational store: the overrides in force (`rules`) and every change to them
(`rule_changes`), written together so the history never misses a change. Validation and auditing live in
`backinstock.rules`; this module only reads and writes.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa

from backinstock.store.tables import rule_changes, rules


def _key(shop: str, scope: str, scope_id: str, name: str) -> sa.ColumnElement[bool]:
    columns = rules.c
    return sa.and_(
        columns.shop == shop, columns.scope == scope, columns.scope_id == scope_id, columns.name == name
    )


def get_rule(connection: sa.Connection, *, shop: str, scope: str, scope_id: str, name: str) -> dict | None:
    row = connection.execute(sa.select(rules).where(_key(shop, scope, scope_id, name))).first()
    return None if row is None else dict(row._mapping)


def list_rules(
    connection: sa.Connection,
    *,
    shop: str | None = None,
    scope: str | None = None,
    scope_id: str | None = None,
) -> list[dict[str, Any]]:
    """Stored overrides, filtered by whatever is given, in a stable order (shop, scope, id, name)."""
    columns = rules.c
    filters = [
        column == value
        for column, value in ((columns.shop, shop), (columns.scope, scope), (columns.scope_id, scope_id))
        if value is not None
    ]
    order = (columns.shop, columns.scope, columns.scope_id, columns.name)
    return [
        dict(row._mapping) for row in connection.execute(sa.select(rules).where(*filters).order_by(*order))
    ]


def rules_for(
    connection: sa.Connection, *, shop: str, product_id: str | None, variant_id: str | None
) -> list[dict[str, Any]]:
    """Every stored override that can apply to a variant of a product: the shop's, the product's, the
    variant's."""
    columns = rules.c
    scopes = [sa.and_(columns.scope == "shop", columns.scope_id == "")]
    if product_id:
        scopes.append(sa.and_(columns.scope == "product", columns.scope_id == product_id))
    if variant_id:
        scopes.append(sa.and_(columns.scope == "variant", columns.scope_id == variant_id))
    query = sa.select(rules).where(columns.shop == shop, sa.or_(*scopes))
    return [dict(row._mapping) for row in connection.execute(query)]


def write_rule(
    connection: sa.Connection,
    *,
    shop: str,
    scope: str,
    scope_id: str,
    name: str,
    value: Any,
    actor: str,
    now: datetime,
) -> dict[str, Any]:
    """Insert or replace the override, and append the change to the history."""
    values = {"value": value, "updated_at": now, "updated_by": actor}
    updated = connection.execute(
        sa.update(rules).where(_key(shop, scope, scope_id, name)).values(**values)
    ).rowcount
    if not updated:
        connection.execute(
            sa.insert(rules).values(shop=shop, scope=scope, scope_id=scope_id, name=name, **values)
        )
    _append_change(connection, shop, scope, scope_id, name, value, actor, now)
    return get_rule(connection, shop=shop, scope=scope, scope_id=scope_id, name=name)


def delete_rule(
    connection: sa.Connection, *, shop: str, scope: str, scope_id: str, name: str, actor: str, now: datetime
) -> bool:
    deleted = connection.execute(sa.delete(rules).where(_key(shop, scope, scope_id, name))).rowcount
    if deleted:
        _append_change(connection, shop, scope, scope_id, name, None, actor, now)
    return bool(deleted)


def _append_change(
    connection: sa.Connection,
    shop: str,
    scope: str,
    scope_id: str,
    name: str,
    value: Any,
    actor: str,
    now: datetime,
) -> None:
    connection.execute(
        sa.insert(rule_changes).values(
            shop=shop,
            scope=scope,
            scope_id=scope_id,
            name=name,
            value=sa.null() if value is None else value,  # SQL NULL marks a clear
            changed_at=now,
            changed_by=actor,
        )
    )


def rule_history(connection: sa.Connection, *, shop: str | None = None) -> list[dict[str, Any]]:
    """Every change, oldest first."""
    query = sa.select(rule_changes).order_by(rule_changes.c.id)
    if shop is not None:
        query = query.where(rule_changes.c.shop == shop)
    return [dict(row._mapping) for row in connection.execute(query)]
