-- No two fired restocks of a variant inside the cooldown of the earlier one: the variants with a restock
-- decided in the cycle, over all their restocks (macros/checks.sql).
with

ordered as (

    select
        restock_event_id,
        shop,
        variant_id,
        restocked_at,
        lag(restocked_at) over (partition by shop, variant_id order by restocked_at) as previous_at,
        lag(cooldown_hours) over (partition by shop, variant_id order by restocked_at) as previous_cooldown_hours
    from {{ ref('restock_events') }}
    semi join (
        select distinct shop, variant_id from {{ ref('restock_events') }} where decided_at > {{ checked_since() }}
    ) as decided using (shop, variant_id)

)

select *
from ordered
where previous_at is not null
    and restocked_at < previous_at + {{ hours_interval('previous_cooldown_hours') }}
