-- KPIs per shop, day and channel (docs/architecture.md, "KPIs"): signups, jobs, sends and what alerts of the
-- channel were credited with; total_orders and total_revenue are the whole day's, so revenue_contribution is
-- the channel's share of the day's revenue. One row per channel and day with any activity.
with

activities as (

    select * from {{ ref('int_kpi_activities_unioned') }}

),

shops as (

    select shop, currency_code from {{ ref('stg_shopify__shops') }}

),

channel_counts as (

    select
        activities.shop,
        activities.activity_date,
        activities.channel,
        {{ kpi_counts('activities') }}

    from activities
    where activities.channel is not null
    group by activities.shop, activities.activity_date, activities.channel

),

day_orders as (

    select
        shop,
        activity_date,
        count(distinct entity_key) as total_orders,
        sum(amount) as total_revenue

    from activities
    where activity = 'order'
    group by shop, activity_date

),

counts as (

    select
        channel_counts.* replace (
            day_orders.total_orders as total_orders,
            day_orders.total_revenue as total_revenue
        )

    from channel_counts
    left join day_orders
        on day_orders.shop = channel_counts.shop
        and day_orders.activity_date = channel_counts.activity_date

),

final as (

    select
        counts.shop,
        counts.activity_date as kpi_date,
        counts.channel,
        shops.currency_code,
        {{ kpi_columns('counts') }}

    from counts
    left join shops on shops.shop = counts.shop

)

select * from final
