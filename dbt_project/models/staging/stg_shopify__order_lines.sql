-- The line items of each order's newest version at or before as_of: lines are landed with the order's
-- updated_at (order_updated_at), so keep the lines whose order_updated_at is the newest one of their order.
-- Amounts in shop currency: the original total, every discount allocated to the line (order-level ones
-- included), and Shopify's current total after discounts and refunds (before taxes).
with

source as (

    select * from {{ source('shopify', 'order_lines') }}

),

renamed as (

    select
        shop,
        order_id,
        line_item_id,
        variant_id,
        product_id,
        quantity,
        current_quantity,
        original_total,
        coalesce(discount_total, 0) as discount_total,
        current_total,
        order_updated_at,
        _ingested_at as ingested_at

    from source
    where order_updated_at <= {{ as_of() }}

),

newest_version as (

    select *
    from renamed
    qualify order_updated_at = max(order_updated_at) over (partition by shop, order_id)

),

deduplicated as (

    select *
    from newest_version
    qualify row_number() over (
        partition by shop, line_item_id
        order by ingested_at desc
    ) = 1

)

select * from deduplicated
