"""The statements a piece of store work sends, as the driver gets them: plan tests and the claim benchmark
explain exactly what production runs."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import sqlalchemy as sa


def statements_of(engine: sa.Engine, work: Callable[[sa.Connection], Any]) -> list[tuple[str, object]]:
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
