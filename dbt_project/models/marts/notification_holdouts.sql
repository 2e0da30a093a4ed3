{{
    config(
        materialized='incremental',
        unique_key='target_id',
        incremental_strategy='append',
        on_schema_change='fail',
        full_refresh=(none if var('rebuild_decisions') else false)
    )
}}
-- The holdout decision of each frozen target (docs/architecture.md, "Incrementality"), written once: a target
-- is held out when the first 8 hex digits of md5(target_id || '|holdout'), read as a fraction of 2^32, fall
-- below its shop's holdout_share. The draw is a pure function of the target, so a rebuild decides the same;
-- appending keeps a later change of the share from moving targets already decided. The enqueue step makes a
-- held-out target's job due holdout_delay_minutes after it is enqueued.
with

targets as (

    select * from {{ ref('notification_targets') }}
    {% if is_incremental() %}
    where target_id not in (select target_id from {{ this }})
    {% endif %}

),

rules as (

    select * from {{ ref('int_shop_rules_resolved') }}

),

drawn as (

    select
        targets.target_id,
        targets.restock_event_id,
        targets.shop,
        targets.variant_id,
        targets.subscription_id,
        targets.decided_at,
        cast(coalesce(rules.holdout_share, {{ var('holdout_share') }}) as double) as holdout_share,
        cast(coalesce(rules.holdout_delay_minutes, {{ var('holdout_delay_minutes') }}) as integer)
            as holdout_delay_minutes,
        cast('0x' || substr(md5(targets.target_id || '|holdout'), 1, 8) as ubigint) / 4294967296.0 as draw

    from targets
    left join rules on rules.shop = targets.shop

),

final as (

    select
        target_id,
        restock_event_id,
        shop,
        variant_id,
        subscription_id,
        decided_at,
        holdout_share,
        holdout_delay_minutes,
        draw,
        draw < holdout_share as is_held_out

    from drawn

)

select * from final
