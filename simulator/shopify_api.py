"""The Admin GraphQL endpoint's behaviour, as Shopify shows it to an app.

Order of checks: access token (401; every token once the shop uninstalled the app), parse and validate against
the official schema (errors, HTTP 200), the requested cost against the single-query ceiling
(MAX_COST_EXCEEDED) and against the shop's bucket (THROTTLED, nothing executed), then execution. The bucket is
charged the requested cost up front and refunded the difference once the actual cost is known. Every JSON
answer carries `extensions.cost`.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from typing import Any

from graphql import (
    GraphQLError,
    GraphQLSchema,
    OperationDefinitionNode,
    OperationType,
    execute,
    parse,
    validate,
)
from graphql.language import FragmentDefinitionNode
from graphql.utilities import get_operation_ast

from simulator.cost import MAX_QUERY_COST, LeakyBucket, Walk, actual_cost, requested_cost
from simulator.resolvers import AdminGraph

UNAUTHORIZED = {"errors": "[API] Invalid API key or access token (unrecognized login or wrong password)"}
MAX_COST_MESSAGE = (
    "Query cost is {cost}, which exceeds the single query max cost limit ({limit}).\n\n"
    "See https://shopify.dev/concepts/about-apis/rate-limits for more information on how the\n"
    "cost of a query is calculated.\n\n"
    "To query larger amounts of data with fewer limits, bulk operations should be used instead.\n"
    "See https://shopify.dev/tutorials/perform-bulk-operations-with-admin-api for usage details.\n"
)


@dataclass
class ShopifyApi:
    schema: GraphQLSchema
    graph: AdminGraph
    bucket: LeakyBucket
    access_token: str
    installed: bool = True  # uninstalling the app revokes its token at once

    def answer(self, token: str | None, body: Any) -> tuple[int, dict[str, Any]]:
        """(HTTP status, JSON body) for one POST to graphql.json."""
        if (
            not token
            or not self.installed
            or not hmac.compare_digest(token.encode(), self.access_token.encode())
        ):
            return 401, UNAUTHORIZED
        if not isinstance(body, dict) or not isinstance(body.get("query"), str):
            return 400, {"errors": {"query": "Required parameter missing or invalid"}}
        variables = body.get("variables") or {}
        if not isinstance(variables, dict):
            return 400, {"errors": {"variables": "must be a JSON object"}}
        try:
            document = parse(body["query"])
        except GraphQLError as error:
            return 200, self._refused([error.formatted], requested=0)
        errors = validate(self.schema, document)
        if errors:
            return 200, self._refused([error.formatted for error in errors], requested=0)
        operation = get_operation_ast(document, body.get("operationName"))
        if operation is None:
            return 200, self._refused([{"message": "An operation name is required"}], requested=0)
        if operation.operation != OperationType.QUERY:
            return 200, self._refused([{"message": "The simulator serves queries only"}], requested=0)
        walk = Walk(self.schema, _fragments(document), variables)
        requested = requested_cost(walk, operation)
        if requested > MAX_QUERY_COST:
            error = {
                "message": MAX_COST_MESSAGE.format(cost=requested, limit=MAX_QUERY_COST),
                "extensions": {"code": "MAX_COST_EXCEEDED", "cost": requested, "maxCost": MAX_QUERY_COST},
            }
            return 200, self._refused([error], requested)
        if not self.bucket.take(requested):
            return 200, self._refused(
                [{"message": "Throttled", "extensions": {"code": "THROTTLED"}}], requested
            )
        return 200, self._run(document, operation, walk, requested)

    def _run(self, document: Any, operation: OperationDefinitionNode, walk: Walk, requested: int) -> dict:
        result = execute(
            self.schema,
            document,
            root_value=self.graph.root(),
            variable_values=walk.variables,
            operation_name=operation.name.value if operation.name else None,
        )
        actual = actual_cost(walk, operation, result.data)
        self.bucket.give_back(max(0, requested - actual))
        payload: dict[str, Any] = {"data": result.data}
        if result.errors:
            payload["errors"] = [error.formatted for error in result.errors]
        payload["extensions"] = {"cost": self._cost(requested, actual)}
        return payload

    def _refused(self, errors: list[dict[str, Any]], requested: int) -> dict[str, Any]:
        return {"errors": errors, "extensions": {"cost": self._cost(requested, None)}}

    def _cost(self, requested: int, actual: int | None) -> dict[str, Any]:
        status = self.bucket.status()
        return {
            "requestedQueryCost": requested,
            "actualQueryCost": actual,
            "throttleStatus": {
                "maximumAvailable": float(status["maximumAvailable"]),
                "currentlyAvailable": int(status["currentlyAvailable"]),
                "restoreRate": float(status["restoreRate"]),
            },
        }


def _fragments(document: Any) -> dict[str, FragmentDefinitionNode]:
    return {
        definition.name.value: definition
        for definition in document.definitions
        if isinstance(definition, FragmentDefinitionNode)
    }
