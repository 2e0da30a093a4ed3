-- One row per location per inventory poll, known at or before as_of: whether the poll read every level of the
-- location (a full read), or only those changed since the watermark.
with

source as (

    select * from {{ source('shopify', 'inventory_level_reads') }}

),

renamed as (

    select
        shop,
        location_id,
        is_full_read,
        levels_read,
        _ingested_at as known_at

    from source
    where _ingested_at <= {{ as_of() }}

)

select * from renamed
