-- Every observation of an inventory level, polled or pushed by webhook, in one shape. The same observation
-- (item, location, Shopify updated_at) often arrives twice, by poll and by webhook, or by two overlapping polls:
-- keep one, the one that arrived last (at the same arrival instant a poll, which reads the level's final value
-- for that updated_at, then the webhook stored last). Order is always Shopify's updated_at, never arrival.
with

polled as (

    select
        shop,
        inventory_item_id,
        location_id,
        available,
        updated_at,
        'poll' as observed_via,
        ingested_at as arrived_at,
        cast(null as bigint) as arrival_number

    from {{ ref('stg_shopify__inventory_levels') }}

),

pushed as (

    select
        shop,
        inventory_item_id,
        location_id,
        available,
        updated_at,
        'webhook' as observed_via,
        received_at as arrived_at,
        webhook_inbox_id as arrival_number

    from {{ ref('stg_app__inventory_level_webhooks') }}

),

unioned as (

    select * from polled
    union all
    select * from pushed

),

deduplicated as (

    select *
    from unioned
    qualify row_number() over (
        partition by shop, inventory_item_id, location_id, updated_at
        order by arrived_at desc, observed_via = 'poll' desc, arrival_number desc nulls first
    ) = 1

)

select * from deduplicated
