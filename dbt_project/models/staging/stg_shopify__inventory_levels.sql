-- Polled inventory levels as observations, known from the poll that read them (_ingested_at), none known
-- after as_of. Shopify's updated_at orders them; it is never later than when we learned it (a clock ahead of
-- ours is taken at our instant). A deactivated level is returned inactive: it is no longer connected.
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
        coalesce(is_active, true) as is_connected,
        least(updated_at, _ingested_at) as updated_at,
        _ingested_at as known_at

    from source
    where _ingested_at <= {{ as_of() }}

)

select * from renamed
