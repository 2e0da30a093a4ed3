-- One row per variant: its newest version known (ingested) at or before as_of. `can_restock` marks the
-- variants the rules apply to: stock tracked by Shopify and policy DENY (CONTINUE keeps selling at 0).
with

source as (

    select * from {{ source('shopify', 'variants') }}

),

renamed as (

    select
        shop,
        variant_id,
        product_id,
        inventory_item_id,
        title as variant_title,
        sku,
        price,
        upper(inventory_policy) as inventory_policy,
        tracked as is_tracked,
        coalesce(tracked, false) and upper(inventory_policy) = 'DENY' as can_restock,
        updated_at,
        _ingested_at as ingested_at

    from source
    where _ingested_at <= {{ as_of() }}

),

newest as (

    select *
    from renamed
    qualify row_number() over (
        partition by shop, variant_id
        order by updated_at desc, ingested_at desc
    ) = 1

)

select * from newest
