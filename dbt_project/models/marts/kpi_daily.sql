-- One row per shop and day (in the shop's time zone), every day from the shop's first to its last day with any
-- activity (days without activity are zeros), with the KPIs of docs/architecture.md.
with

activities as (

    select * from {{ ref('int_kpi_activities_unioned') }}

),

shops as (

    select shop, currency_code from {{ ref('stg_shopify__shops') }}

),

active_days as (

    select shop, min(activity_date) as first_date, max(activity_date) as last_date
    from activities
    group by shop

),

spine as (

    select
        active_days.shop,
        cast(days.kpi_date as date) as kpi_date

    from active_days
    cross join lateral (
        select unnest(generate_series(active_days.first_date, active_days.last_date, interval 1 day)) as kpi_date
    ) as days

),

daily_counts as (

    select
        activities.shop,
        activities.activity_date,
        {{ kpi_counts('activities') }}

    from activities
    group by activities.shop, activities.activity_date

),

final as (

    select
        spine.shop,
        spine.kpi_date,
        shops.currency_code,
        {{ kpi_columns('daily_counts') }}

    from spine
    left join daily_counts
        on daily_counts.shop = spine.shop
        and daily_counts.activity_date = spine.kpi_date
    left join shops on shops.shop = spine.shop

)

select * from final
