-- One row per product: its newest version known (ingested) at or before as_of.
with

source as (

    select * from {{ source('shopify', 'products') }}

),

renamed as (

    select
        shop,
        product_id,
        title as product_title,
        handle as product_handle,
        status as product_status,
        updated_at,
        _ingested_at as ingested_at

    from source
    where _ingested_at <= {{ as_of() }}

),

newest as (

    select *
    from renamed
    qualify row_number() over (
        partition by shop, product_id
        order by updated_at desc, ingested_at desc
    ) = 1

)

select * from newest
