"""How dbt nodes become Dagster assets: sources link to the ingest assets that land them."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import dagster as dg
from dagster_dbt import DagsterDbtTranslator

from orchestration.asset_metadata import ANALYTICS_ENGINEERING, INTERMEDIATE, MARTS, STAGING
from orchestration.defs.privacy.assets import WAREHOUSE_REDACTIONS
from orchestration.freshness import with_freshness


class BackInStockDbtTranslator(DagsterDbtTranslator):
    def get_asset_spec(self, manifest: Mapping[str, Any], unique_id: str, project: Any) -> dg.AssetSpec:
        """Every model waits for the privacy ledger to be applied to the warehouse: dbt never rebuilds a
        redacted person from the raw layer (orchestration/defs/privacy). The key marts carry their freshness
        policy (orchestration/freshness.py)."""
        spec = with_freshness(super().get_asset_spec(manifest, unique_id, project))
        if self.get_resource_props(manifest, unique_id)["resource_type"] != "model":
            return spec
        return spec.merge_attributes(deps=[WAREHOUSE_REDACTIONS])

    def get_asset_key(self, dbt_resource_props: Mapping[str, Any]) -> dg.AssetKey:
        """A source is keyed by its warehouse schema and table (`raw_shopify/orders`), exactly like the asset
        that writes it; a model by its name."""
        if dbt_resource_props["resource_type"] == "source":
            return dg.AssetKey([dbt_resource_props["schema"], dbt_resource_props["name"]])
        return dg.AssetKey(dbt_resource_props["name"])

    def get_group_name(self, dbt_resource_props: Mapping[str, Any]) -> str | None:
        """Models are grouped by layer: the folder under models/ (staging, intermediate, marts)."""
        fqn = dbt_resource_props.get("fqn") or []
        layer = fqn[1] if len(fqn) > 2 else ""
        return layer if layer in (STAGING, INTERMEDIATE, MARTS) else MARTS

    def get_owners(self, dbt_resource_props: Mapping[str, Any]) -> Sequence[str] | None:
        return [ANALYTICS_ENGINEERING]
