-- One row per shop and day (in the shop's time zone), every day from the day the product started watching the
-- shop (its first ingest) or its first activity, whichever is earlier, to the day of as_of: days without
-- activity are zeros. The KPIs of docs/architecture.md.
with

activities as (

    select * from {{ ref('int_kpi_activities_unioned') }}

),

shops as (

    select shop, currency_code, iana_timezone, first_ingested_at from {{ ref('stg_shopify__shops') }}

),

active_days as (

    select shop, min(activity_date) as first_date, max(activity_date) as last_date
    from activities
    group by shop

),

bounds as (

    select
        coalesce(active_days.shop, shops.shop) as shop,
        least(
            active_days.first_date,
            {{ to_local_date('shops.first_ingested_at', 'shops.iana_timezone') }}
        ) as first_date,
        greatest(
            active_days.last_date,
            {{ to_local_date(as_of(), 'shops.iana_timezone') }}
        ) as last_date

    from active_days
    full outer join shops on shops.shop = active_days.shop

),

spine as (

    select
        bounds.shop,
        cast(days.kpi_date as date) as kpi_date

    from bounds
    cross join lateral (
        select unnest(generate_series(bounds.first_date, bounds.last_date, interval 1 day)) as kpi_date
    ) as days
    where bounds.first_date is not null

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
