"""Shopify's search syntax for the `query` argument, the part the product uses: instant comparisons.

`updated_at:>='2026-11-02T00:00:00Z'` (also `>`, `<`, `<=`, `=` or none; single, double or no quotes),
terms joined by spaces or AND. Like Shopify, terms on fields this store cannot search are ignored rather than
refused; free text matches everything.
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable
from datetime import datetime

from simulator.instants import parse_instant

SEARCHABLE_INSTANTS = ("updated_at", "created_at")
TERM = re.compile(r"""(\w+):(>=|<=|>|<|=)?\s*(?:'([^']*)'|"([^"]*)"|(\S+))""")
COMPARISONS: dict[str, Callable[[datetime, datetime], bool]] = {
    ">=": operator.ge,
    "<=": operator.le,
    ">": operator.gt,
    "<": operator.lt,
    "=": operator.eq,
}

Predicate = Callable[[dict[str, datetime]], bool]


class SearchSyntaxError(ValueError):
    """A term on a searchable field whose value is not an instant."""


def parse_search(text: str | None) -> list[Predicate]:
    """One predicate per term on a searchable instant; each takes the row's instants by field name."""
    predicates: list[Predicate] = []
    for match in TERM.finditer(text or ""):
        name, sign, *values = match.groups()
        if name not in SEARCHABLE_INSTANTS:
            continue
        raw = next(value for value in values if value is not None)
        try:
            bound = parse_instant(raw)
        except ValueError as bad:
            raise SearchSyntaxError(f"invalid date in search term {match.group(0)!r}") from bad
        compare = COMPARISONS[sign or "="]
        predicates.append(lambda row, name=name, compare=compare, bound=bound: compare(row[name], bound))
    return predicates


def matches(predicates: list[Predicate], row: dict[str, datetime]) -> bool:
    return all(predicate(row) for predicate in predicates)
