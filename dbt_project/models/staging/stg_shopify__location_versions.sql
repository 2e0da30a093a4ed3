-- Each change of a location's flags (active, fulfils online orders) as the polls learned it, at or before
-- as_of. Locations are read whole every poll: only a version that differs from the previous one is kept.
with

source as (

    select * from {{ source('shopify', 'locations') }}

),

renamed as (

    select
        shop,
        location_id,
        name as location_name,
        coalesce(is_active, false) as is_active,
        coalesce(fulfills_online_orders, false) as fulfills_online_orders,
        _ingested_at as known_at

    from source
    where _ingested_at <= {{ as_of() }}

),

changes as (

    select *
    from renamed
    qualify (is_active, fulfills_online_orders) is distinct from lag((is_active, fulfills_online_orders)) over (
        partition by shop, location_id
        order by known_at
    )

)

select * from changes
