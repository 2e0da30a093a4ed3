"""The official Shopify Admin GraphQL schema (2026-10), built once per process from its introspection."""

from __future__ import annotations

import gzip
import json
from functools import cache
from pathlib import Path

from graphql import GraphQLSchema, build_client_schema

INTROSPECTION = Path(__file__).parent / "data" / "admin_2026-10.introspection.json.gz"


@cache
def admin_schema() -> GraphQLSchema:
    with gzip.open(INTROSPECTION) as handle:
        return build_client_schema(json.load(handle)["data"])
