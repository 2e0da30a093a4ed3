-- Everything the KPIs count, one row per (activity, entity) at the instant it counts, with that instant's date
-- in the shop's time zone. kpi_daily and kpi_summary count distinct entity keys per activity (so a viewer seen
-- on several days counts once in the summary) and sum amounts.
--   product_viewed           pixel client id, at each view
--   signup                   subscription, at created_at
--   restock                  restock event, at restocked_at
--   notification_job         target of a restock known at as_of (one job per target), at its restock
--   notification_attempted / _sent / _opened / _clicked
--                            job, at the instant it was sent (its first attempt when it never was)
--   attributed_order         order, at ordered_at, amount = order total
--   order                    non-cancelled order, at ordered_at, amount = order total
with

shops as (

    select shop, iana_timezone from {{ ref('stg_shopify__shops') }}

),

views as (

    select shop, 'product_viewed' as activity, client_id as entity_key, occurred_at, cast(null as decimal(14, 2)) as amount
    from {{ ref('stg_app__tracking_events') }}
    where event_type = 'product_viewed'
        and client_id is not null

),

signups as (

    select shop, 'signup', cast(subscription_id as varchar), created_at, null
    from {{ ref('stg_app__subscriptions') }}

),

restocks as (

    select shop, 'restock', restock_event_id, restocked_at, null
    from {{ ref('restock_events') }}

),

targets as (

    -- the targets mart is frozen: it may hold rows written at a later as_of than this run's (a replay), or
    -- answer a restock that later data no longer shows; count the targets of the restocks known as of as_of
    select targets.shop, 'notification_job', targets.target_id, targets.restocked_at, null
    from {{ ref('notification_targets') }} as targets
    inner join {{ ref('restock_events') }} as restocks
        on restocks.restock_event_id = targets.restock_event_id
    where targets.signed_up_at <= {{ as_of() }}

),

jobs as (

    select * from {{ ref('int_notification_jobs_summarized') }}

),

job_activities as (

    select shop, 'notification_attempted', cast(job_id as varchar), counted_at, null from jobs where is_attempted
    union all
    select shop, 'notification_sent', cast(job_id as varchar), counted_at, null from jobs where is_sent
    union all
    select shop, 'notification_opened', cast(job_id as varchar), counted_at, null from jobs where is_opened
    union all
    select shop, 'notification_clicked', cast(job_id as varchar), counted_at, null from jobs where is_clicked

),

attributed_orders as (

    select shop, 'attributed_order', order_id, ordered_at, order_total
    from {{ ref('notification_attributions') }}

),

orders as (

    select shop, 'order', order_id, ordered_at, total_price
    from {{ ref('stg_shopify__orders') }}
    where not is_cancelled

),

unioned as (

    select * from views
    union all select * from signups
    union all select * from restocks
    union all select * from targets
    union all select * from job_activities
    union all select * from attributed_orders
    union all select * from orders

),

final as (

    select
        unioned.shop,
        unioned.activity,
        unioned.entity_key,
        unioned.occurred_at,
        {{ to_local_date('unioned.occurred_at', 'shops.iana_timezone') }} as activity_date,
        unioned.amount

    from unioned
    left join shops on shops.shop = unioned.shop

)

select * from final
