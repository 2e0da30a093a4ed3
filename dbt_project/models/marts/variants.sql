-- The catalog: one row per variant with its product's title and handle, as of as_of. The storefront's
-- signup check and the frozen message context of notification targets both read it.
with

variants as (

    select * from {{ ref('stg_shopify__variants') }}

),

products as (

    select * from {{ ref('stg_shopify__products') }}

),

final as (

    select
        variants.shop,
        variants.variant_id,
        variants.product_id,
        variants.inventory_item_id,
        products.product_title,
        variants.variant_title,
        products.product_handle,
        products.product_status,
        variants.sku,
        cast(variants.price as decimal(14, 2)) as price,
        variants.inventory_policy,
        coalesce(variants.is_tracked, false) as is_tracked,
        variants.can_restock,
        greatest(variants.updated_at, coalesce(products.updated_at, variants.updated_at)) as updated_at

    from variants
    left join products
        on products.shop = variants.shop
        and products.product_id = variants.product_id

)

select * from final
