-- One row per line item of every order as of as_of, with its net revenue in shop currency
-- (docs/architecture.md, "Days and money"): original total − every discount allocated to the line − the
-- subtotals of its refund lines created at or before as_of. An order that does not count (a test order, or
-- cancelled at or before as_of) has net revenue 0 on every line. `shopify_current_total` is Shopify's own
-- figure for the line after discounts and refunds, kept for a cross-check.
with

orders as (

    select * from {{ ref('stg_shopify__orders') }}

),

lines as (

    select * from {{ ref('stg_shopify__order_lines') }}

),

refunds as (

    select
        shop,
        line_item_id,
        sum(subtotal) as refunded_revenue,
        sum(quantity) as refunded_quantity

    from {{ ref('stg_shopify__order_refund_lines') }}
    where refunded_at is null or refunded_at <= {{ as_of() }}
    group by shop, line_item_id

),

joined as (

    select
        lines.shop,
        lines.order_id,
        lines.line_item_id,
        lines.variant_id,
        lines.product_id,
        lines.quantity,
        coalesce(refunds.refunded_quantity, 0) as refunded_quantity,
        orders.ordered_at,
        orders.is_cancelled,
        orders.is_test,
        not orders.is_cancelled and not orders.is_test as is_counted,
        orders.currency_code,
        coalesce(lines.original_total, 0) - lines.discount_total as gross_revenue,
        coalesce(refunds.refunded_revenue, 0) as refunded_revenue,
        lines.current_total as shopify_current_total

    from lines
    inner join orders
        on orders.shop = lines.shop
        and orders.order_id = lines.order_id
    left join refunds
        on refunds.shop = lines.shop
        and refunds.line_item_id = lines.line_item_id

),

final as (

    select
        *,
        cast(case when is_counted then gross_revenue - refunded_revenue else 0 end as decimal(14, 2))
            as net_revenue

    from joined

)

select * from final
