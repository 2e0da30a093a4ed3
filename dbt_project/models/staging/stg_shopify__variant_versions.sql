-- Each change of what makes a variant restockable (its inventory item, product, tracking and policy) and of
-- what a message says about it, as the polls learned it, at or before as_of. A variant takes a version from
-- the poll that read it: the product never applies a policy it did not know yet.
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
        cast(price as decimal(14, 2)) as price,
        upper(inventory_policy) as inventory_policy,
        coalesce(tracked, false) as is_tracked,
        updated_at,
        _ingested_at as known_at

    from source
    where _ingested_at <= {{ as_of() }}

),

changes as (

    select *
    from renamed
    qualify (product_id, inventory_item_id, variant_title, sku, price, inventory_policy, is_tracked)
        is distinct from lag((product_id, inventory_item_id, variant_title, sku, price, inventory_policy, is_tracked))
        over (partition by shop, variant_id order by known_at, updated_at)

)

select * from changes
