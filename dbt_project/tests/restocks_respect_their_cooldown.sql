-- No two fired restocks of a variant inside the cooldown of the earlier one.
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

)

select *
from ordered
where previous_at is not null
    and restocked_at < previous_at + {{ hours_interval('previous_cooldown_hours') }}
