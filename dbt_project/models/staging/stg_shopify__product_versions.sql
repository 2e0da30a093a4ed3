-- Each change of a product's status (ACTIVE, ARCHIVED, DRAFT), title or handle as the polls learned it, at or
-- before as_of.
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
        upper(status) as product_status,
        updated_at,
        _ingested_at as known_at

    from source
    where _ingested_at <= {{ as_of() }}

),

changes as (

    select *
    from renamed
    qualify (product_title, product_handle, product_status)
        is distinct from lag((product_title, product_handle, product_status))
        over (partition by shop, product_id order by known_at, updated_at)

)

select * from changes
