-- Every touch of a sent notification, with the instant its attribution window ends (docs/architecture.md,
-- "Attribution"): each open and click of the job, and for SMS jobs the delivery. Windows are the shop's.
with

jobs as (

    select * from {{ ref('int_notification_jobs_summarized') }}
    where is_sent

),

rules as (

    select * from {{ ref('int_shop_rules_resolved') }}

),

tracked as (

    select
        events.job_id,
        events.event_type as touch_type,
        events.occurred_at as touched_at

    from {{ ref('stg_app__tracking_events') }} as events
    where events.event_type in ('open', 'click')
        and events.job_id is not null

),

deliveries as (

    select job_id, 'delivery' as touch_type, delivered_at as touched_at
    from jobs
    where channel = 'sms'
        and delivered_at is not null

),

unioned as (

    select * from tracked
    union all
    select * from deliveries

),

final as (

    select
        jobs.shop,
        unioned.job_id,
        jobs.subscription_id,
        jobs.restock_event_id,
        jobs.channel,
        jobs.contact_key,
        jobs.variant_id,
        jobs.product_id,
        unioned.touch_type,
        unioned.touched_at,
        unioned.touched_at + case unioned.touch_type
            when 'click' then {{ hours_interval('coalesce(rules.click_window_hours, ' ~ var('click_window_hours') ~ ')') }}
            when 'open' then {{ hours_interval('coalesce(rules.open_window_hours, ' ~ var('open_window_hours') ~ ')') }}
            else {{ hours_interval('coalesce(rules.sms_window_hours, ' ~ var('sms_window_hours') ~ ')') }}
        end as window_ends_at

    from unioned
    inner join jobs on jobs.job_id = unioned.job_id
    left join rules on rules.shop = jobs.shop

)

select * from final
