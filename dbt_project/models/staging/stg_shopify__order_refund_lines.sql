-- Refund lines of each order's newest version at or before as_of (landed with the order's updated_at, like
-- its line items): one row per refund and refunded line item, the subtotal in shop currency.
with

source as (

    select * from {{ source('shopify', 'order_refund_lines') }}

),

renamed as (

    select
        shop,
        order_id,
        refund_id,
        refunded_at,
        line_item_id,
        quantity,
        subtotal,
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
        partition by shop, refund_id, line_item_id
        order by ingested_at desc
    ) = 1

)

select * from deduplicated
