-- The KPI marts' orders and revenue reconcile with the orders mart: per shop over all time (kpi_summary) and
-- per shop day (kpi_daily, the orders mart's order_date), for counting orders; and the variant grain adds up
-- to the day.
with

orders as (

    select shop, order_date, count(*) as total_orders, sum(net_revenue) as total_revenue,
        sum(attributed_revenue) as attributed_revenue
    from {{ ref('orders') }}
    where is_counted
    group by shop, order_date

),

by_shop as (

    select shop, sum(total_orders) as total_orders, sum(total_revenue) as total_revenue,
        sum(attributed_revenue) as attributed_revenue
    from orders
    group by shop

),

variant_days as (

    select shop, kpi_date, sum(total_revenue) as total_revenue
    from {{ ref('kpi_variants_daily') }}
    group by shop, kpi_date

),

daily_mismatches as (

    select 'kpi_daily' as mart, daily.shop, daily.kpi_date
    from {{ ref('kpi_daily') }} as daily
    full outer join orders
        on orders.shop = daily.shop
        and orders.order_date = daily.kpi_date
    where coalesce(daily.total_orders, 0) != coalesce(orders.total_orders, 0)
        or coalesce(daily.total_revenue, 0) != coalesce(orders.total_revenue, 0)
        or coalesce(daily.attributed_revenue, 0) != coalesce(orders.attributed_revenue, 0)

),

summary_mismatches as (

    select 'kpi_summary', summary.shop, null
    from {{ ref('kpi_summary') }} as summary
    full outer join by_shop on by_shop.shop = summary.shop
    where coalesce(summary.total_orders, 0) != coalesce(by_shop.total_orders, 0)
        or coalesce(summary.total_revenue, 0) != coalesce(by_shop.total_revenue, 0)
        or coalesce(summary.attributed_revenue, 0) != coalesce(by_shop.attributed_revenue, 0)

),

variant_mismatches as (

    select 'kpi_variants_daily', daily.shop, daily.kpi_date
    from {{ ref('kpi_daily') }} as daily
    left join variant_days
        on variant_days.shop = daily.shop
        and variant_days.kpi_date = daily.kpi_date
    where daily.total_revenue != coalesce(variant_days.total_revenue, 0)

)

select * from daily_mismatches
union all select * from summary_mismatches
union all select * from variant_mismatches
