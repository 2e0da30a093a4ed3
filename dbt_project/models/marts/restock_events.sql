{{
    config(
        materialized='incremental',
        incremental_strategy='append',
        unique_key='restock_event_id',
        on_schema_change='fail',
        full_refresh=(none if var('rebuild_decisions') else false)
    )
}}
-- Fired restocks: facts, appended when decided and never rewritten. Each run decides, variant by variant and
-- in the order they became decidable, what fired since its last fired restock:
--   restock              a confirmed restock candidate (int_stock_segments) that starts at least the last
--                        fired restock's cooldown after it;
--   waiting_subscribers  someone signed up after the last fired restock (during a cooldown, or a dip shorter
--                        than the debounce) and the variant is in stock, at the first instant from the end of
--                        the cooldown (and the signup) where it stays in stock for the debounce.
-- An event is decided at `decided_at`: the first instant what the product knew confirmed it (its start, or
-- the signup, was known, and it had held for the debounce), never before the previous event's. Everything
-- it was decided with is written on it: the rules then (threshold and debounce from the history, cooldown,
-- batch and release from decided_at), the sellable quantity at restocked_at and the fact that started it.
-- Replaying an earlier as_of reads the events decided by then; a full refresh recomputes the same events
-- from the same raw rows (only with var rebuild_decisions, see docs/architecture.md).
{%- set beginning = "timestamp '1900-01-01'" %}
with

{% if is_incremental() %}
previous_events as (

    select
        shop,
        variant_id,
        arg_max(restocked_at, decided_at) as restocked_at,
        arg_max(cooldown_hours, decided_at) as cooldown_hours,
        max(decided_at) as decided_at
    from {{ this }}
    group by shop, variant_id

),
{% else %}
previous_events as (

    select
        cast(null as varchar) as shop,
        cast(null as varchar) as variant_id,
        cast(null as timestamp) as restocked_at,
        cast(null as integer) as cooldown_hours,
        cast(null as timestamp) as decided_at
    where false

),
{% endif %}

segments as (

    select * from {{ ref('int_stock_segments') }}
    where variant_id is not null

),

candidates as (

    -- confirmed restock candidates, decidable as of as_of, after the variant's last fired restock
    select segments.*
    from segments
    left join previous_events
        on previous_events.shop = segments.shop
        and previous_events.variant_id = segments.variant_id
    where segments.is_restock_candidate
        and segments.confirm_at <= {{ as_of() }}
        and segments.started_at > coalesce(previous_events.restocked_at, {{ beginning }})
        and (
            segments.is_open
            or segments.ended_at - segments.started_at >= {{ minutes_interval('segments.debounce_minutes') }}
            or segments.end_known_at > segments.confirm_at
        )

),

signups as (

    select shop, variant_id, created_at as signed_up_at
    from {{ ref('stg_app__subscriptions') }}

),

waiting as (

    -- variants someone signed up for after their last fired restock
    select signups.shop, signups.variant_id
    from signups
    left join previous_events
        on previous_events.shop = signups.shop
        and previous_events.variant_id = signups.variant_id
    where signups.signed_up_at > coalesce(previous_events.restocked_at, {{ beginning }})
    group by signups.shop, signups.variant_id

),

in_stock_segments as (

    select segments.*
    from segments
    semi join waiting
        on waiting.shop = segments.shop
        and waiting.variant_id = segments.variant_id
    left join previous_events
        on previous_events.shop = segments.shop
        and previous_events.variant_id = segments.variant_id
    where segments.stock_state = 'in_stock'
        and segments.start_known_at <= {{ as_of() }}
        and (segments.is_open or segments.ended_at > coalesce(previous_events.restocked_at, {{ beginning }}))

),

variants_in_play as (

    select shop, variant_id, any_value(product_id) as product_id, any_value(inventory_item_id) as inventory_item_id
    from (
        select shop, variant_id, product_id, inventory_item_id from candidates
        union all
        select shop, variant_id, product_id, inventory_item_id from in_stock_segments
    ) as found
    group by shop, variant_id

),

walk as (

    select * from (
        with recursive walked (
            shop, variant_id, product_id, inventory_item_id, step, fired_by, restocked_at, decided_at,
            cooldown_hours, previous_restocked_at, segment_start_fact_seq
        ) as (

            select
                in_play.shop,
                in_play.variant_id,
                in_play.product_id,
                in_play.inventory_item_id,
                0,
                cast(null as varchar),
                coalesce(previous_events.restocked_at, {{ beginning }}),
                coalesce(previous_events.decided_at, {{ beginning }}),
                coalesce(previous_events.cooldown_hours, 0),
                cast(null as timestamp),
                cast(null as bigint)
            from variants_in_play as in_play
            left join previous_events
                on previous_events.shop = in_play.shop
                and previous_events.variant_id = in_play.variant_id

            union all

            select
                chosen.shop,
                chosen.variant_id,
                chosen.product_id,
                chosen.inventory_item_id,
                chosen.step + 1,
                chosen.fired_by,
                chosen.restocked_at,
                chosen.decided_at,
                {{ rule_value('rules', 'cooldown_hours') }},
                chosen.previous_restocked_at,
                chosen.segment_start_fact_seq
            from (
                select *
                from (
                    select
                        options.*,
                        row_number() over (
                            partition by options.shop, options.variant_id
                            order by options.decided_at, options.restocked_at, options.fired_by
                        ) as choice
                    from (
                        -- the next restock candidate the cooldown lets fire
                        select
                            last.shop, last.variant_id, last.product_id, last.inventory_item_id, last.step,
                            'restock' as fired_by,
                            candidates.started_at as restocked_at,
                            greatest(candidates.confirm_at, last.decided_at) as decided_at,
                            last.restocked_at as previous_restocked_at,
                            candidates.start_fact_seq as segment_start_fact_seq
                        from walked as last
                        inner join candidates
                            on candidates.shop = last.shop
                            and candidates.variant_id = last.variant_id
                            and candidates.started_at > last.restocked_at
                            and candidates.started_at >= last.restocked_at + {{ hours_interval('last.cooldown_hours') }}
                        union all
                        -- the first instant the waiting subscribers can be told
                        select
                            last.shop, last.variant_id, last.product_id, last.inventory_item_id, last.step,
                            'waiting_subscribers',
                            greatest(bases.base_at, in_stock.started_at),
                            greatest(
                                greatest(bases.base_at, in_stock.started_at)
                                    + {{ minutes_interval('in_stock.debounce_minutes') }},
                                in_stock.start_known_at,
                                last.decided_at
                            ),
                            last.restocked_at,
                            in_stock.start_fact_seq
                        from walked as last
                        inner join (
                            select
                                last.shop,
                                last.variant_id,
                                greatest(
                                    last.restocked_at + {{ hours_interval('last.cooldown_hours') }},
                                    min(signups.signed_up_at)
                                ) as base_at
                            from walked as last
                            inner join signups
                                on signups.shop = last.shop
                                and signups.variant_id = last.variant_id
                                and signups.signed_up_at > last.restocked_at
                            group by last.shop, last.variant_id, last.restocked_at, last.cooldown_hours
                        ) as bases
                            on bases.shop = last.shop
                            and bases.variant_id = last.variant_id
                        inner join in_stock_segments as in_stock
                            on in_stock.shop = last.shop
                            and in_stock.variant_id = last.variant_id
                            and (in_stock.is_open or in_stock.ended_at > bases.base_at)
                        where in_stock.is_open
                            or in_stock.ended_at - greatest(bases.base_at, in_stock.started_at)
                                >= {{ minutes_interval('in_stock.debounce_minutes') }}
                            or in_stock.end_known_at > greatest(
                                greatest(bases.base_at, in_stock.started_at)
                                    + {{ minutes_interval('in_stock.debounce_minutes') }},
                                in_stock.start_known_at
                            )
                    ) as options
                    where options.decided_at <= {{ as_of() }}
                ) as ranked
                where choice = 1
            ) as chosen
            {{ rule_joins('rules', 'chosen.shop', 'chosen.product_id', 'chosen.variant_id', 'chosen.decided_at',
                ['cooldown_hours']) }}

        )

        select * from walked where step > 0
    )

),

history as (

    -- a fact learned late takes effect at the instant of what was known before it (the timeline), so several
    -- rows can share a valid_from: the state from then is the last learned (an ASOF join picks any of them)
    select shop, inventory_item_id, valid_from, sellable_quantity, threshold
    from {{ ref('int_sellable_quantities_historized') }}
    semi join (select distinct inventory_item_id from walk) as walked using (inventory_item_id)
    qualify row_number() over (partition by inventory_item_id, valid_from order by fact_seq desc) = 1

),

with_quantity as (

    -- the sellable quantity and threshold at restocked_at: a restock's own segment start; for waiting
    -- subscribers told later in a segment, the history then
    select
        walk.*,
        history.sellable_quantity,
        history.threshold
    from walk
    asof left join history
        on history.shop = walk.shop
        and history.inventory_item_id = walk.inventory_item_id
        and history.valid_from <= walk.restocked_at

),

final as (

    select
        cast({{ restock_event_id('with_quantity.shop', 'with_quantity.variant_id', 'with_quantity.restocked_at') }}
            as varchar) as restock_event_id,
        with_quantity.shop,
        with_quantity.variant_id,
        with_quantity.product_id,
        with_quantity.inventory_item_id,
        with_quantity.restocked_at,
        with_quantity.decided_at,
        with_quantity.fired_by,
        case when with_quantity.previous_restocked_at > {{ beginning }}
            then with_quantity.previous_restocked_at end as previous_restocked_at,
        case when with_quantity.restocked_at = segments.started_at then segments.start_quantity
            else with_quantity.sellable_quantity end as sellable_quantity,
        cast(case when with_quantity.restocked_at = segments.started_at then segments.start_threshold
            else with_quantity.threshold end as integer) as threshold,
        segments.debounce_minutes,
        cast(with_quantity.cooldown_hours as integer) as cooldown_hours,
        {{ rule_value('rules', 'counted_locations') }} as counted_locations,
        {{ rule_value('rules', 'batch_multiplier') }} as batch_multiplier,
        {{ rule_value('rules', 'batch_interval_minutes') }} as batch_interval_minutes,
        {{ rule_value('rules', 'release') }} as release_mode,
        -- what decided it: the fact that started the in-stock segment, when the product learned it, and how
        -- long the segment had held by the decision (null: still in stock)
        segments.start_fact_id as started_by_fact_id,
        segments.start_known_at as start_known_at,
        case when segments.end_known_at <= with_quantity.decided_at then segments.ended_at end as ended_at_decision

    from with_quantity
    inner join segments
        on segments.inventory_item_id = with_quantity.inventory_item_id
        and segments.start_fact_seq = with_quantity.segment_start_fact_seq
    {{ rule_joins('rules', 'with_quantity.shop', 'with_quantity.product_id', 'with_quantity.variant_id',
        'with_quantity.decided_at', ['counted_locations', 'batch_multiplier', 'batch_interval_minutes', 'release']) }}

)

select * from final
