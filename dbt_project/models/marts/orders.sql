-- One row per order as of as_of, its money in shop currency (docs/architecture.md, "Days and money"):
-- Shopify's total (shipping and taxes included, refunds not taken off), the lines' gross revenue after
-- discounts, what was refunded of it, the net revenue the KPIs count, and how much of that alerts were
-- credited with (both views). The KPI marts' order totals reconcile with this mart (a dbt test).
with

orders as (

    select * from {{ ref('stg_shopify__orders') }}

),

shops as (

    select shop, iana_timezone from {{ ref('stg_shopify__shops') }}

),

lines as (

    select
        shop,
        order_id,
        count(*) as line_items,
        sum(quantity) as units,
        sum(gross_revenue) as gross_revenue,
        sum(refunded_revenue) as refunded_revenue,
        sum(net_revenue) as net_revenue

    from {{ ref('int_order_lines_netted') }}
    group by shop, order_id

),

credited as (

    select
        shop,
        order_id,
        sum(net_revenue) filter (where attribution_view = 'last_touch') as attributed_revenue,
        sum(net_revenue) filter (where attribution_view = 'click_only') as attributed_revenue_click_only

    from {{ ref('int_order_lines_attributed') }}
    group by shop, order_id

),

final as (

    select
        orders.shop,
        orders.order_id,
        orders.order_name,
        orders.ordered_at,
        {{ to_local_date('orders.ordered_at', 'shops.iana_timezone') }} as order_date,
        orders.email,
        orders.customer_id,
        orders.is_cancelled,
        orders.cancelled_at,
        orders.is_test,
        not orders.is_cancelled and not orders.is_test as is_counted,
        orders.currency_code,
        orders.presentment_currency_code,
        cast(orders.total_price / nullif(orders.total_price_presentment, 0) as double) as exchange_rate,
        orders.total_price,
        cast(coalesce(lines.line_items, 0) as bigint) as line_items,
        cast(coalesce(lines.units, 0) as bigint) as units,
        cast(coalesce(lines.gross_revenue, 0) as decimal(14, 2)) as gross_revenue,
        cast(coalesce(lines.refunded_revenue, 0) as decimal(14, 2)) as refunded_revenue,
        cast(coalesce(lines.net_revenue, 0) as decimal(14, 2)) as net_revenue,
        cast(coalesce(credited.attributed_revenue, 0) as decimal(14, 2)) as attributed_revenue,
        cast(coalesce(credited.attributed_revenue_click_only, 0) as decimal(14, 2))
            as attributed_revenue_click_only,
        cardinality(orders.click_job_ids) > 0 as carries_click_token

    from orders
    left join shops on shops.shop = orders.shop
    left join lines
        on lines.shop = orders.shop
        and lines.order_id = orders.order_id
    left join credited
        on credited.shop = orders.shop
        and credited.order_id = orders.order_id

)

select * from final
