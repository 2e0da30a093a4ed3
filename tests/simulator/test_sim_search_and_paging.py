"""Shopify's search filter syntax and the keyset cursors of the simulated connections."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from graphql import GraphQLError

from simulator.resolvers import connection
from simulator.search import SearchSyntaxError, matches, parse_search

EARLY, BOUND, LATE = (datetime(2026, 11, 2, hour, tzinfo=UTC) for hour in (0, 6, 12))


@pytest.mark.parametrize(
    ("query", "early", "bound", "late"),
    [
        ("updated_at:>='2026-11-02T06:00:00Z'", False, True, True),
        ('updated_at:>"2026-11-02T06:00:00Z"', False, False, True),
        ("updated_at:<2026-11-02T06:00:00Z", True, False, False),
        ("updated_at:<='2026-11-02T08:00:00+02:00'", True, True, False),
        ("updated_at:>='2026-11-02T01:00:00Z' AND updated_at:<'2026-11-02T07:00:00Z'", False, True, False),
        ("title:shirt status:active", True, True, True),  # fields this store cannot search are ignored
        (None, True, True, True),
    ],
)
def test_instant_filters(query: str | None, early: bool, bound: bool, late: bool) -> None:
    predicates = parse_search(query)
    assert [matches(predicates, {"updated_at": t, "created_at": t}) for t in (EARLY, BOUND, LATE)] == [
        early,
        bound,
        late,
    ]


def test_a_filter_on_an_instant_that_is_not_one_is_an_error() -> None:
    with pytest.raises(SearchSyntaxError):
        parse_search("updated_at:>='yesterday'")


def page(rows: list[int], **arguments) -> dict:
    return connection(rows, lambda row: [row], lambda row: {"id": row}, **arguments)


def test_forward_pages_follow_end_cursors_to_the_last_row() -> None:
    rows = list(range(1, 8))
    first = page(rows, first=3)
    assert [n["id"] for n in first["nodes"]] == [1, 2, 3] and first["pageInfo"]["hasNextPage"]
    rows.insert(0, 0)  # a row added before the cursor does not shift the next page
    second = page(rows, first=3, after=first["pageInfo"]["endCursor"])
    assert [n["id"] for n in second["nodes"]] == [4, 5, 6]
    third = page(rows, first=3, after=second["pageInfo"]["endCursor"])
    assert [n["id"] for n in third["nodes"]] == [7] and not third["pageInfo"]["hasNextPage"]
    assert [edge["node"]["id"] for edge in third["edges"]] == [7]


def test_reverse_and_backward_pages() -> None:
    rows = list(range(1, 8))
    backwards = page(rows, first=2, reverse=True)
    assert [n["id"] for n in backwards["nodes"]] == [7, 6]
    assert [
        n["id"] for n in page(rows, first=2, reverse=True, after=backwards["pageInfo"]["endCursor"])["nodes"]
    ] == [
        5,
        4,
    ]
    tail = page(rows, last=2)
    assert [n["id"] for n in tail["nodes"]] == [6, 7] and tail["pageInfo"]["hasPreviousPage"]
    before = page(rows, last=2, before=tail["pageInfo"]["startCursor"])
    assert [n["id"] for n in before["nodes"]] == [4, 5]


def test_a_page_needs_a_size_within_shopifys_limit() -> None:
    with pytest.raises(GraphQLError, match="first or last"):
        page([1])
    with pytest.raises(GraphQLError, match="250"):
        page([1], first=251)
