-- KPIs per restock event (docs/architecture.md, "KPIs"), all time up to as_of: its targets, what happened to
-- their jobs, and what they were credited with (orders on any day). One row per restock event known at as_of
-- or credited with something.
with

activities as (

    select * from {{ ref('int_kpi_activities_unioned') }}
    where restock_event_id is not null

),

restocks as (

    select * from {{ ref('restock_events') }}
    where decided_at <= {{ as_of() }}  -- fired restocks are appended: a replay reads those decided by then

),

shops as (

    select shop, currency_code, iana_timezone from {{ ref('stg_shopify__shops') }}

),

counts as (

    select
        activities.shop,
        activities.restock_event_id,
        {{ kpi_counts('activities') }}

    from activities
    group by activities.shop, activities.restock_event_id

),

kpis as (

    select
        counts.shop,
        counts.restock_event_id,
        {{ kpi_columns('counts') }}

    from counts

),

final as (

    select
        kpis.restock_event_id,
        kpis.shop,
        restocks.product_id,
        restocks.variant_id,
        restocks.restocked_at,
        {{ to_local_date('restocks.restocked_at', 'shops.iana_timezone') }} as restock_date,
        shops.currency_code,
        kpis.notification_jobs,
        kpis.notifications_attempted,
        kpis.notifications_sent,
        kpis.notifications_delivered,
        kpis.notifications_opened,
        kpis.notifications_clicked,
        kpis.notifications_converted,
        kpis.attributed_orders,
        kpis.attributed_revenue,
        kpis.delivery_success_rate,
        kpis.open_rate,
        kpis.click_rate,
        kpis.conversion_rate,
        kpis.notifications_converted_click_only,
        kpis.attributed_orders_click_only,
        kpis.attributed_revenue_click_only,
        kpis.conversion_rate_click_only

    from kpis
    left join restocks on restocks.restock_event_id = kpis.restock_event_id
    left join shops on shops.shop = kpis.shop

)

select * from final
