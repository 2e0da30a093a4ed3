-- Polled inventory levels as observations: one row per level and Shopify updated_at (a poll that re-reads an
-- unchanged level lands the same observation again: keep the newest ingest). Observations after as_of are
-- ignored.
with

source as (

    select * from {{ source('shopify', 'inventory_levels') }}

),

renamed as (

    select
        shop,
        inventory_level_id,
        inventory_item_id,
        location_id,
        available,
        updated_at,
        _ingested_at as ingested_at

    from source
    where updated_at <= {{ as_of() }}

),

deduplicated as (

    select *
    from renamed
    qualify row_number() over (
        partition by shop, inventory_level_id, updated_at
        order by ingested_at desc
    ) = 1

)

select * from deduplicated
