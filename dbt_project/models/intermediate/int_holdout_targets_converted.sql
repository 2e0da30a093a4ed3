-- The holdout experiment's targets (docs/architecture.md, "Incrementality"): one row per job of a target
-- decided while its shop held some targets out, whose window (from the job's creation to
-- holdout_delay_minutes later, both ends inclusive) has ended by as_of. Held-out jobs were due only at the
-- window's end, treated ones at once. A target converts when an order reaching its job (by the job's contact
-- or its click token, as in attribution) was placed inside the window with a counting line in the scope of
-- the notified variant; its revenue is the net revenue of those lines. Whether the alert was opened or even
-- sent does not matter: the groups are compared as assigned (intention to treat).
with

holdouts as (

    select * from {{ ref('notification_holdouts') }}
    where holdout_share > 0

),

jobs as (

    select * from {{ ref('int_notification_jobs_summarized') }}

),

rules as (

    select * from {{ ref('int_shop_rules_resolved') }}

),

orders as (

    select * from {{ ref('stg_shopify__orders') }}

),

lines as (

    select * from {{ ref('int_order_lines_netted') }}
    where is_counted

),

experiment as (

    select
        jobs.job_id,
        jobs.shop,
        jobs.contact_key,
        jobs.variant_id,
        jobs.product_id,
        holdouts.target_id,
        holdouts.is_held_out,
        holdouts.holdout_delay_minutes,
        jobs.created_at as window_starts_at,
        jobs.created_at + {{ minutes_interval('holdouts.holdout_delay_minutes') }} as window_ends_at

    from holdouts
    inner join jobs
        on jobs.restock_event_id = holdouts.restock_event_id
        and jobs.subscription_id = holdouts.subscription_id
    where jobs.created_at + {{ minutes_interval('holdouts.holdout_delay_minutes') }} <= {{ as_of() }}

),

order_contacts as (

    {{ order_contacts('orders') }}

),

order_click_jobs as (

    {{ order_click_jobs('orders') }}

),

reached as (

    select experiment.job_id, order_contacts.order_id
    from experiment
    inner join order_contacts
        on order_contacts.shop = experiment.shop
        and order_contacts.contact = experiment.contact_key

    union

    select experiment.job_id, order_click_jobs.order_id
    from experiment
    inner join order_click_jobs
        on order_click_jobs.shop = experiment.shop
        and order_click_jobs.job_id = experiment.job_id

),

converted as (

    select
        experiment.job_id,
        count(distinct lines.order_id) as orders,
        sum(lines.net_revenue) as revenue

    from experiment
    inner join reached on reached.job_id = experiment.job_id
    inner join lines
        on lines.shop = experiment.shop
        and lines.order_id = reached.order_id
    left join rules on rules.shop = experiment.shop
    where lines.ordered_at between experiment.window_starts_at and experiment.window_ends_at
        and {{ in_attribution_scope(
            'rules.attribution_scope', 'lines.variant_id', 'lines.product_id', 'experiment.variant_id',
            'experiment.product_id'
        ) }}
    group by experiment.job_id

),

final as (

    select
        experiment.shop,
        experiment.job_id,
        experiment.target_id,
        experiment.is_held_out,
        experiment.holdout_delay_minutes,
        experiment.window_starts_at,
        experiment.window_ends_at,
        converted.job_id is not null as is_converted,
        coalesce(converted.orders, 0) as orders,
        cast(coalesce(converted.revenue, 0) as decimal(14, 2)) as revenue

    from experiment
    left join converted on converted.job_id = experiment.job_id

)

select * from final
