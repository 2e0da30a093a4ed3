{{
    config(
        materialized='incremental',
        incremental_strategy='append',
        unique_key='fact_id',
        on_schema_change='fail'
    )
}}
-- Every fact that can change a variant's sellable stock, once, numbered in the order the product learned
-- it (fact_seq). Each run appends the facts learned since the last one, none learned after as_of.
--   level  an inventory level's `available` at a location (a poll, an update or connect webhook), or its
--          end (a disconnect webhook, a deactivated level, a level a full read no longer returns:
--          is_connected false); `updated_at` is Shopify's instant.
--   tick   something else changed for the item, at the instant the product learned it: its variant
--          (policy, tracking, product), its product's status, a location's flags, a threshold or
--          counted-locations rule. The sellable history re-evaluates the item there.
-- Duplicates and stale copies (a poll re-reading what a webhook said) are kept here and dropped by the
-- sellable history, which knows each level's newest state.
{%- set sources = ['poll', 'webhook', 'location', 'variant', 'product', 'rule'] %}
{%- set since = "(select {source}_known_at from watermarks)" if is_incremental() else "timestamp '1900-01-01'" %}
with

{% if is_incremental() %}
watermarks as materialized (

    -- how far each source's facts reached, in one pass over the facts (a filtered maximum per source was a
    -- pass each, the largest cost of a cycle here once the history is long)
    select
        {%- for source in sources %}
        coalesce(max(known_at) filter (where source = '{{ source }}'), timestamp '1900-01-01') as {{ source }}_known_at
            {{- ',' if not loop.last }}
        {%- endfor %}
    from {{ this }}

),
{% endif %}

polled as (

    select *
    from {{ ref('stg_shopify__inventory_levels') }}
    where known_at > {{ since.format(source='poll') }}

),

pushed as (

    select *
    from {{ ref('stg_app__inventory_level_webhooks') }}
    where parse_error is null
        and known_at <= {{ as_of() }}
        and known_at > {{ since.format(source='webhook') }}

),

full_reads as (

    select shop, location_id, known_at
    from {{ ref('stg_shopify__inventory_level_reads') }}
    where is_full_read
        and known_at > {{ since.format(source='poll') }}

),

changed_locations as (

    select *
    from {{ ref('stg_shopify__location_versions') }}
    where known_at > {{ since.format(source='location') }}

),

locations_to_list as (

    select shop, location_id from full_reads
    union
    select shop, location_id from changed_locations

),

levels_seen as (

    -- every level the product has heard of at the locations that need their list (a full read, a changed
    -- location), with when it first heard of it
    select shop, inventory_item_id, location_id, min(known_at) as first_known_at
    from (
        {% if is_incremental() %}
        select shop, inventory_item_id, location_id, known_at from {{ this }} where fact_kind = 'level'
        union all
        {% endif %}
        select shop, inventory_item_id, location_id, known_at from polled
        union all
        select shop, inventory_item_id, location_id, known_at from pushed
    ) as heard
    where (shop, location_id) in (select (shop, location_id) from locations_to_list)
    group by shop, inventory_item_id, location_id

),

not_returned as (

    -- a full read that no longer returns a level the product knew: the level is gone from that instant
    select seen.shop, seen.inventory_item_id, seen.location_id, reads.known_at
    from full_reads as reads
    inner join levels_seen as seen
        on seen.shop = reads.shop
        and seen.location_id = reads.location_id
        and seen.first_known_at < reads.known_at
    anti join polled
        on polled.shop = seen.shop
        and polled.inventory_item_id = seen.inventory_item_id
        and polled.location_id = seen.location_id
        and polled.known_at = reads.known_at

),

variant_versions as (

    select * from {{ ref('stg_shopify__variant_versions') }}

),

items_of_products as (

    select distinct shop, product_id, inventory_item_id
    from variant_versions
    where inventory_item_id is not null

),

items_of_shops as (

    select distinct shop, inventory_item_id from items_of_products

),

variant_ticks as (

    select shop, inventory_item_id, 'variant|' || variant_id as source_key, known_at
    from variant_versions
    where inventory_item_id is not null
        and known_at > {{ since.format(source='variant') }}

),

product_ticks as (

    select items.shop, items.inventory_item_id, 'product|' || products.product_id as source_key, products.known_at
    from {{ ref('stg_shopify__product_versions') }} as products
    inner join items_of_products as items
        on items.shop = products.shop
        and items.product_id = products.product_id
    where products.known_at > {{ since.format(source='product') }}

),

location_ticks as (

    select seen.shop, seen.inventory_item_id, 'location|' || locations.location_id as source_key, locations.known_at
    from changed_locations as locations
    inner join levels_seen as seen
        on seen.shop = locations.shop
        and seen.location_id = locations.location_id

),

rule_changes as (

    select *
    from {{ ref('stg_app__rule_changes') }}
    where rule_name in ('threshold', 'counted_locations')
        and known_at > {{ since.format(source='rule') }}

),

rule_ticks as (

    select items.shop, items.inventory_item_id, 'rule|' || changes.rule_change_id as source_key, changes.known_at
    from rule_changes as changes
    inner join items_of_shops as items on items.shop = changes.shop
    where changes.scope = 'shop'
    union all
    select items.shop, items.inventory_item_id, 'rule|' || changes.rule_change_id, changes.known_at
    from rule_changes as changes
    inner join items_of_products as items
        on items.shop = changes.shop
        and items.product_id = changes.scope_id
    where changes.scope = 'product'
    union all
    select versions.shop, versions.inventory_item_id, 'rule|' || changes.rule_change_id, changes.known_at
    from rule_changes as changes
    inner join (select distinct shop, variant_id, inventory_item_id from variant_versions) as versions
        on versions.shop = changes.shop
        and versions.variant_id = changes.scope_id
    where changes.scope = 'variant'
        and versions.inventory_item_id is not null

),

facts as (

    select
        'poll|' || shop || '|' || inventory_level_id || '|' || strftime(updated_at, '%Y-%m-%dT%H:%M:%S.%f')
            || '|' || strftime(known_at, '%Y-%m-%dT%H:%M:%S.%f') as fact_id,
        'poll' as source,
        shop, inventory_item_id, 'level' as fact_kind, location_id, available, is_connected, updated_at, known_at
    from polled
    union all
    select
        'webhook|' || webhook_inbox_id, 'webhook',
        shop, inventory_item_id, 'level', location_id, available, is_connected, updated_at, known_at
    from pushed
    union all
    select
        'gone|' || shop || '|' || inventory_item_id || '|' || location_id || '|'
            || strftime(known_at, '%Y-%m-%dT%H:%M:%S.%f'),
        'poll',
        shop, inventory_item_id, 'level', location_id, null, false, known_at, known_at
    from not_returned
    union all
    select
        source_key || '|' || strftime(known_at, '%Y-%m-%dT%H:%M:%S.%f') || '|' || inventory_item_id,
        split_part(source_key, '|', 1),
        shop, inventory_item_id, 'tick', null, null, null, known_at, known_at
    from (
        select * from variant_ticks
        union all select * from product_ticks
        union all select * from location_ticks
        union all select * from rule_ticks
    ) as ticks

),

learned as (

    select *, date_trunc('hour', known_at) as known_hour
    from facts
    where known_at <= {{ as_of() }}

),

hours_before as (

    -- how many facts were learned in the hours before each: numbering hour by hour gives the same numbers
    -- as one window over all facts, whose single sort of a rebuild's millions of rows spilled to disk
    select
        known_hour,
        coalesce(sum(count(*)) over (order by known_hour rows between unbounded preceding and 1 preceding), 0)
            as facts_before
    from learned
    group by known_hour

),

final as (

    select
        learned.fact_id,
        cast(
            {% if is_incremental() %}(select coalesce(max(fact_seq), 0) from {{ this }}) + {% endif %}
            hours_before.facts_before
            + row_number() over (
                partition by learned.known_hour
                order by learned.known_at, learned.fact_kind, learned.updated_at, learned.fact_id
            )
            as bigint
        ) as fact_seq,
        learned.source,
        learned.shop,
        learned.inventory_item_id,
        learned.fact_kind,
        learned.location_id,
        cast(learned.available as integer) as available,
        cast(learned.is_connected as boolean) as is_connected,
        learned.updated_at,
        learned.known_at

    from learned
    inner join hours_before
        on hours_before.known_hour = learned.known_hour

)

select * from final
