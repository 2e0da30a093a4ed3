"""Shopify's calculated query cost and the leaky bucket that spends it.

Cost rules (Shopify's "calculated query cost"): a scalar or enum field costs 0; an object field 1 plus its
selection; a connection 2 plus, for each requested node (`first`/`last`), the node's cost (1 plus its
selection), so nested connections multiply. `edges`, `node`, `nodes` and `pageInfo` are the connection's own
structure and cost nothing on their own. A list of objects that is not a connection counts as one object.
The requested cost is computed before running the query, from the page sizes asked for; the actual cost
walks the same selection over the data returned, with the real number of nodes.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from graphql import (
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLInt,
    GraphQLNamedType,
    GraphQLObjectType,
    GraphQLSchema,
    InlineFragmentNode,
    OperationDefinitionNode,
    SelectionSetNode,
    get_named_type,
    is_leaf_type,
    value_from_ast,
)

MAX_QUERY_COST = 1000


@dataclass(frozen=True)
class Walk:
    """What a cost walk needs besides the selection: the schema, fragments and the request's variables."""

    schema: GraphQLSchema
    fragments: dict[str, FragmentDefinitionNode]
    variables: dict[str, Any]


def requested_cost(walk: Walk, operation: OperationDefinitionNode) -> int:
    root = walk.schema.get_root_type(operation.operation)
    return _selection_cost(walk, operation.selection_set, root, _UNKNOWN)


def actual_cost(walk: Walk, operation: OperationDefinitionNode, data: dict[str, Any] | None) -> int:
    if data is None:
        return 0
    root = walk.schema.get_root_type(operation.operation)
    return _selection_cost(walk, operation.selection_set, root, data)


class _Unknown:
    """Stands for data not fetched yet: the static walk assumes every field is present and pages are full."""


_UNKNOWN = _Unknown()


def _fields(walk: Walk, selection_set: SelectionSetNode | None) -> Iterable[FieldNode]:
    """Field nodes of a selection with fragments flattened in (their fields cost as if selected directly)."""
    for selection in selection_set.selections if selection_set else ():
        if isinstance(selection, FieldNode):
            yield selection
        elif isinstance(selection, InlineFragmentNode):
            yield from _fields(walk, selection.selection_set)
        elif isinstance(selection, FragmentSpreadNode) and selection.name.value in walk.fragments:
            yield from _fields(walk, walk.fragments[selection.name.value].selection_set)


def _selection_cost(walk: Walk, selection_set: SelectionSetNode | None, parent: Any, data: Any) -> int:
    total = 0
    for node in _fields(walk, selection_set):
        name = node.name.value
        definition = getattr(parent, "fields", {}).get(name)
        if definition is None:  # __typename, or a field of a fragment on another type
            continue
        named = get_named_type(definition.type)
        if is_leaf_type(named):
            continue
        value = data if data is _UNKNOWN else data.get((node.alias or node.name).value)
        if value is None:
            continue
        if _is_connection(named):
            total += _connection_cost(walk, node, named, value)
        else:
            items = value if isinstance(value, list) else [value]
            total += 1 + max(
                (_selection_cost(walk, node.selection_set, named, item) for item in items), default=0
            )
    return total


def _is_connection(named: GraphQLNamedType) -> bool:
    return (
        isinstance(named, GraphQLObjectType)
        and named.name.endswith("Connection")
        and "pageInfo" in named.fields
    )


def _connection_cost(walk: Walk, node: FieldNode, connection: GraphQLObjectType, value: Any) -> int:
    node_type = get_named_type(connection.fields["nodes"].type) if "nodes" in connection.fields else None
    inner = [
        (child.selection_set, value if value is _UNKNOWN else value.get((child.alias or child.name).value))
        for child in _fields(walk, node.selection_set)
        if child.name.value == "nodes"
    ]
    for edges in (child for child in _fields(walk, node.selection_set) if child.name.value == "edges"):
        edge_values = _UNKNOWN if value is _UNKNOWN else value.get((edges.alias or edges.name).value) or []
        for child in _fields(walk, edges.selection_set):
            if child.name.value == "node":
                nodes = (
                    _UNKNOWN
                    if edge_values is _UNKNOWN
                    else [edge.get((child.alias or child.name).value) for edge in edge_values]
                )
                inner.append((child.selection_set, nodes))
    per_node: list[int] = []
    for selection_set, nodes in inner:
        if nodes is _UNKNOWN:
            size = _page_size(walk, node)
            per_node.append(size * (1 + _selection_cost(walk, selection_set, node_type, _UNKNOWN)))
        else:
            per_node.append(
                sum(1 + _selection_cost(walk, selection_set, node_type, item) for item in nodes or [])
            )
    return 2 + max(per_node, default=0)


def _page_size(walk: Walk, node: FieldNode) -> int:
    for argument in node.arguments:
        if argument.name.value in ("first", "last"):
            size = value_from_ast(argument.value, GraphQLInt, walk.variables)
            if isinstance(size, int):
                return size
    return 0


@dataclass
class LeakyBucket:
    """One shop's cost bucket: it refills at `restore_rate` points per wall-clock second up to `maximum`."""

    maximum: float
    restore_rate: float
    clock: Callable[[], float] = time.monotonic
    available: float = field(init=False)
    seen_at: float = field(init=False)

    def __post_init__(self) -> None:
        self.available = self.maximum
        self.seen_at = self.clock()

    def refill(self) -> float:
        moment = self.clock()
        self.available = min(self.maximum, self.available + (moment - self.seen_at) * self.restore_rate)
        self.seen_at = moment
        return self.available

    def take(self, points: float) -> bool:
        """Spend `points` if the bucket holds them; otherwise spend nothing and say so."""
        if self.refill() < points:
            return False
        self.available -= points
        return True

    def give_back(self, points: float) -> None:
        self.available = min(self.maximum, self.available + points)

    def status(self) -> dict[str, float]:
        return {
            "maximumAvailable": self.maximum,
            "currentlyAvailable": self.refill(),
            "restoreRate": self.restore_rate,
        }
