-- One row per location, newest version ingested at or before as_of (else the first one ingested).
with

source as (

    select * from {{ source('shopify', 'locations') }}

),

renamed as (

    select
        shop,
        location_id,
        name as location_name,
        is_active,
        fulfills_online_orders,
        _ingested_at as ingested_at

    from source

),

newest as (

    select *
    from renamed
    qualify row_number() over (
        partition by shop, location_id
        order by
            case when ingested_at <= {{ as_of() }} then 0 else 1 end,
            case when ingested_at <= {{ as_of() }} then ingested_at end desc,
            ingested_at
    ) = 1

)

select * from newest
