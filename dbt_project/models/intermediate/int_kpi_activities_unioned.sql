-- Everything the KPIs count (docs/architecture.md, "KPIs"), one row per (activity, entity) at the instant it
-- counts, with that instant's date in the shop's time zone and the dimensions it belongs to (product,
-- variant, channel, restock event). The kpi_* marts count distinct entity keys per activity for their grain
-- and sum amounts (net revenue in shop currency).
--   product_viewed / variant_viewed   pixel client id / (client id, variant), at each view
--   signup                            subscription, at created_at
--   restock                           restock event, at restocked_at
--   notification_job                  target of a restock known at as_of, at its restock
--   notification_attempted, _sent, _delivered, _opened, _clicked, _converted, _converted_click_only
--                                     job, at the instant it was sent (its first attempt when never sent)
--   order                             each line of a counting order, at ordered_at, amount = its net revenue
--   attributed_order, attributed_order_click_only
--                                     each credited line, at ordered_at: the line's product and variant, the
--                                     crediting job's channel and restock event
with

shops as (

    select shop, iana_timezone from {{ ref('stg_shopify__shops') }}

),

catalog as (

    select shop, variant_id, product_id from {{ ref('variants') }}

),

views as (

    select
        events.shop,
        events.client_id,
        events.variant_id,
        coalesce(events.product_id, catalog.product_id) as product_id,
        events.occurred_at

    from {{ ref('stg_app__tracking_events') }} as events
    left join catalog
        on catalog.shop = events.shop
        and catalog.variant_id = events.variant_id
    where events.event_type = 'product_viewed'
        and events.client_id is not null

),

view_activities as (

    select shop, 'product_viewed' as activity, client_id as entity_key, occurred_at,
        cast(null as decimal(14, 2)) as amount, product_id, variant_id, cast(null as varchar) as channel,
        cast(null as varchar) as restock_event_id
    from views
    union all
    select shop, 'variant_viewed', client_id || '|' || variant_id, occurred_at, null, product_id, variant_id,
        null, null
    from views
    where variant_id is not null

),

signups as (

    select shop, 'signup', cast(subscription_id as varchar), created_at, null, product_id, variant_id, channel,
        null
    from {{ ref('stg_app__subscriptions') }}

),

restocks as (

    select shop, 'restock', restock_event_id, restocked_at, null, product_id, variant_id, null,
        restock_event_id
    from {{ ref('restock_events') }}
    where decided_at <= {{ as_of() }}  -- fired restocks are appended: a replay counts those decided by then

),

targets as (

    -- the targets mart is frozen: it may hold rows written at a later as_of than this run's (a replay), or
    -- answer a restock that later data no longer shows; count the targets of the restocks known as of as_of
    select targets.shop, 'notification_job', targets.target_id, targets.restocked_at, null, targets.product_id,
        targets.variant_id, targets.channel, targets.restock_event_id
    from {{ ref('notification_targets') }} as targets
    inner join {{ ref('restock_events') }} as restocks
        on restocks.restock_event_id = targets.restock_event_id
    where targets.signed_up_at <= {{ as_of() }}
        and restocks.decided_at <= {{ as_of() }}

),

credited as (

    select * from {{ ref('int_order_lines_attributed') }}

),

jobs as (

    select
        jobs.*,
        exists (
            select 1 from credited
            where credited.job_id = jobs.job_id and credited.attribution_view = 'last_touch'
        ) as is_converted,
        exists (
            select 1 from credited
            where credited.job_id = jobs.job_id and credited.attribution_view = 'click_only'
        ) as is_converted_click_only

    from {{ ref('int_notification_jobs_summarized') }} as jobs

),

job_flags as (

    select
        jobs.*,
        flags.activity

    from jobs
    cross join lateral (
        select unnest([
            case when jobs.is_attempted then 'notification_attempted' end,
            case when jobs.is_sent then 'notification_sent' end,
            case when jobs.is_delivered then 'notification_delivered' end,
            case when jobs.is_opened then 'notification_opened' end,
            case when jobs.is_clicked then 'notification_clicked' end,
            case when jobs.is_sent and jobs.is_converted then 'notification_converted' end,
            case when jobs.is_sent and jobs.is_converted_click_only then 'notification_converted_click_only' end
        ]) as activity
    ) as flags
    where flags.activity is not null

),

job_activities as (

    select shop, activity, cast(job_id as varchar), counted_at, null, product_id, variant_id, channel,
        restock_event_id
    from job_flags

),

orders as (

    select shop, 'order', order_id, ordered_at, net_revenue, product_id, variant_id, null, null
    from {{ ref('int_order_lines_netted') }}
    where is_counted

),

attributed_orders as (

    select
        shop,
        case attribution_view when 'last_touch' then 'attributed_order' else 'attributed_order_click_only' end,
        order_id, ordered_at, net_revenue, product_id, variant_id, channel, restock_event_id
    from credited

),

unioned as (

    select * from view_activities
    union all select * from signups
    union all select * from restocks
    union all select * from targets
    union all select * from job_activities
    union all select * from orders
    union all select * from attributed_orders

),

final as (

    select
        unioned.shop,
        unioned.activity,
        unioned.entity_key,
        unioned.occurred_at,
        {{ to_local_date('unioned.occurred_at', 'shops.iana_timezone') }} as activity_date,
        unioned.amount,
        unioned.product_id,
        unioned.variant_id,
        unioned.channel,
        unioned.restock_event_id

    from unioned
    left join shops on shops.shop = unioned.shop

)

select * from final
