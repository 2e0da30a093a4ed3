-- Level observations (polls, webhooks) learned in the last 24 hours for inventory items no variant is known
-- for as of as_of: stock the product cannot place (a webhook for an item the catalog poll has not read, an
-- item of a deleted variant). Counted per item and surfaced as a warning on int_inventory_facts, never dropped
-- silently (the sellable history keeps them as not_restockable). Only recent facts: the check's cost follows
-- the cycle's delta, and an item the catalog learns later stops being reported.
{{ config(severity='warn', meta={'dagster': {'ref': {'name': 'int_inventory_facts'}}}) }}
select facts.shop, facts.inventory_item_id, count(*) as observations, min(facts.known_at) as first_known_at
from {{ ref('int_inventory_facts') }} as facts
anti join {{ ref('stg_shopify__variant_versions') }} as variants
    on variants.shop = facts.shop
    and variants.inventory_item_id = facts.inventory_item_id
where facts.fact_kind = 'level'
    and facts.known_at > {{ as_of() }} - {{ hours_interval(24) }}
group by facts.shop, facts.inventory_item_id
