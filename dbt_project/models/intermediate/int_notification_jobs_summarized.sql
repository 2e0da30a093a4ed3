-- One row per notification job with what happened to it up to as_of: attempted (at least one attempt), sent
-- (the provider accepted it), delivered (sent, and no bounce or drop reported), opened (an open or a click),
-- clicked. A job is sent at its sent_at, or else at its first accepted attempt. `counted_at` is the instant
-- the job counts at in the KPIs: when it was sent, or its first attempt when it never was. `contact_key` is
-- the contact as orders are matched on it (email lower-cased and trimmed, phone as + and digits). The
-- product is the one frozen in the job's message, else the catalog's for its variant.
with

jobs as (

    select * from {{ ref('stg_app__notification_jobs') }}

),

catalog as (

    select shop, variant_id, product_id from {{ ref('variants') }}

),

attempts as (

    select
        job_id,
        min(started_at) as first_attempted_at,
        min(coalesce(finished_at, started_at)) filter (where outcome = 'accepted') as first_accepted_at

    from {{ ref('stg_app__notification_attempts') }}
    group by job_id

),

touches as (

    select
        job_id,
        min(occurred_at) filter (where event_type in ('open', 'click')) as first_opened_at,
        min(occurred_at) filter (where event_type = 'click') as first_clicked_at

    from {{ ref('stg_app__tracking_events') }}
    where job_id is not null
        and event_type in ('open', 'click')
    group by job_id

),

joined as (

    select
        jobs.job_id,
        jobs.shop,
        jobs.restock_event_id,
        jobs.subscription_id,
        jobs.variant_id,
        coalesce(jobs.product_id, catalog.product_id) as product_id,
        jobs.channel,
        jobs.contact,
        case
            when jobs.channel = 'sms' then {{ normalized_phone('jobs.contact') }}
            else nullif(lower(trim(jobs.contact)), '')
        end as contact_key,
        jobs.status,
        jobs.created_at,
        attempts.first_attempted_at,
        coalesce(jobs.sent_at, attempts.first_accepted_at) as sent_at,
        touches.first_opened_at,
        touches.first_clicked_at

    from jobs
    left join catalog
        on catalog.shop = jobs.shop
        and catalog.variant_id = jobs.variant_id
    left join attempts on attempts.job_id = jobs.job_id
    left join touches on touches.job_id = jobs.job_id

),

final as (

    select
        *,
        -- no provider reports deliveries yet: a sent job counts as delivered
        sent_at as delivered_at,
        first_attempted_at is not null or sent_at is not null as is_attempted,
        sent_at is not null as is_sent,
        sent_at is not null as is_delivered,
        sent_at is not null and first_opened_at is not null as is_opened,
        sent_at is not null and first_clicked_at is not null as is_clicked,
        coalesce(sent_at, first_attempted_at) as counted_at

    from joined

)

select * from final
