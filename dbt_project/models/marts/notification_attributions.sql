-- Last-touch attribution: one row per attributed order. Touches are opens and clicks of sent notifications,
-- at their event time, by the job's contact. A non-cancelled order with email E placed at T goes to the job of
-- the latest touch by E (same shop) with touched_at <= T <= touched_at + window (click_window_hours for a click,
-- open_window_hours for an open; both edges inclusive). Ties: the click, then the higher job id.
with

jobs as (

    select * from {{ ref('int_notification_jobs_summarized') }}
    where is_sent

),

touches as (

    select
        events.tracking_event_id,
        jobs.shop,
        jobs.job_id,
        jobs.subscription_id,
        jobs.variant_id,
        lower(trim(jobs.contact)) as contact,
        events.event_type as touch_type,
        events.occurred_at as touched_at,
        events.occurred_at + case events.event_type
            when 'click' then {{ hours_interval(var('click_window_hours')) }}
            else {{ hours_interval(var('open_window_hours')) }}
        end as window_ends_at

    from {{ ref('stg_app__tracking_events') }} as events
    inner join jobs on jobs.job_id = events.job_id
    where events.event_type in ('open', 'click')

),

orders as (

    select * from {{ ref('stg_shopify__orders') }}
    where not is_cancelled
        and email is not null

),

matched as (

    select
        orders.order_id,
        orders.shop,
        touches.job_id,
        touches.subscription_id,
        touches.variant_id,
        touches.touch_type,
        touches.touched_at,
        orders.ordered_at,
        orders.total_price,
        orders.currency_code,
        touches.tracking_event_id

    from orders
    inner join touches
        on touches.shop = orders.shop
        and touches.contact = orders.email
        and orders.ordered_at >= touches.touched_at
        and orders.ordered_at <= touches.window_ends_at
    qualify row_number() over (
        partition by orders.shop, orders.order_id
        order by
            touches.touched_at desc,
            case touches.touch_type when 'click' then 0 else 1 end,
            touches.job_id desc,
            touches.tracking_event_id desc
    ) = 1

),

final as (

    select
        order_id,
        shop,
        cast(job_id as bigint) as job_id,
        cast(subscription_id as bigint) as subscription_id,
        variant_id,
        touch_type,
        touched_at,
        ordered_at,
        cast(total_price as decimal(14, 2)) as order_total,
        currency_code

    from matched

)

select * from final
