{{
    config(
        materialized='incremental',
        unique_key='target_id',
        incremental_strategy='append',
        on_schema_change='fail',
        full_refresh=(none if var('rebuild_decisions') else false)
    )
}}
-- When each frozen target is released to be sent (the enqueue step reads released targets only). Appended,
-- never changed. How a restock's targets go out follows the rules written on it:
--   release = manual     held until a person releases the product (backinstock targets release, or the
--                        console): every target it holds then goes at that instant;
--   batch_multiplier 0   everyone at once, when the restock is decided;
--   batch_multiplier m   in batches, in signup order across the variant's restocks (a target left over from
--                        an earlier restock keeps its place): batch 1 at the decision, ceil(m x the restock's
--                        sellable quantity) targets; each next batch one batch interval later, or as soon
--                        after as the variant is in stock again (as known then), ceil(m x the sellable
--                        quantity then); a new restock starts a batch at once.
{%- set beginning = "timestamp '1900-01-01'" %}
with

restocks as (

    select * from {{ ref('restock_events') }}
    where decided_at <= {{ as_of() }}

),

targets as (

    select targets.*, restocks.release_mode, restocks.batch_multiplier
    from {{ ref('notification_targets') }} as targets
    inner join restocks on restocks.restock_event_id = targets.restock_event_id
    {% if is_incremental() %}
    where targets.target_id not in (select target_id from {{ this }})
    {% endif %}

),

manual_releases as (

    select * from {{ ref('stg_app__manual_releases') }}

),

released_by_hand as (

    select
        targets.target_id,
        manual_releases.known_at as released_at,
        'manual' as released_by,
        cast(null as bigint) as batch_number
    from targets
    asof inner join manual_releases
        on manual_releases.shop = targets.shop
        and manual_releases.product_id = targets.product_id
        and manual_releases.known_at >= targets.decided_at
    where targets.release_mode = 'manual'

),

released_at_once as (

    select target_id, decided_at as released_at, 'restock' as released_by, cast(1 as bigint) as batch_number
    from targets
    where targets.release_mode = 'automatic'
        and targets.batch_multiplier = 0

),

-- batches --------------------------------------------------------------------------------------------------

batched_restocks as (

    select * from restocks
    where release_mode = 'automatic'
        and batch_multiplier > 0

),

pool as (

    -- every batched target of each variant, in the order they queue (their place never changes)
    select
        targets.shop,
        targets.variant_id,
        targets.target_id,
        targets.decided_at,
        row_number() over (
            partition by targets.shop, targets.variant_id
            order by targets.decided_at, targets.restocked_at, targets.target_rank
        ) as place
    from {{ ref('notification_targets') }} as targets
    inner join batched_restocks on batched_restocks.restock_event_id = targets.restock_event_id

),

{% if is_incremental() %}
batches_so_far as (

    select pool.shop, pool.variant_id, count(*) as released, max(released.released_at) as last_batch_at,
        max(released.batch_number) as last_batch_number
    from {{ this }} as released
    inner join pool on pool.target_id = released.target_id
    group by pool.shop, pool.variant_id

),
{% else %}
batches_so_far as (

    select
        cast(null as varchar) as shop,
        cast(null as varchar) as variant_id,
        cast(null as bigint) as released,
        cast(null as timestamp) as last_batch_at,
        cast(null as bigint) as last_batch_number
    where false

),
{% endif %}

pooled_variants as (

    -- variants with batched targets not released yet
    select pool.shop, pool.variant_id
    from pool
    left join batches_so_far
        on batches_so_far.shop = pool.shop
        and batches_so_far.variant_id = pool.variant_id
    group by pool.shop, pool.variant_id
    having count(*) > coalesce(any_value(batches_so_far.released), 0)

),

stock_as_known as (

    -- each item's stock state and quantity as the product knew them, from each instant it learned a change
    select history.shop, restock.variant_id, history.known_at, history.stock_state, history.sellable_quantity
    from {{ ref('int_sellable_quantities_historized') }} as history
    inner join (
        select distinct shop, variant_id, inventory_item_id from batched_restocks
    ) as restock
        on restock.shop = history.shop
        and restock.inventory_item_id = history.inventory_item_id
    semi join pooled_variants
        on pooled_variants.shop = restock.shop
        and pooled_variants.variant_id = restock.variant_id
    qualify row_number() over (
        partition by history.shop, history.inventory_item_id, history.known_at
        order by history.valid_from desc, history.fact_seq desc
    ) = 1

),

queued as (

    -- how many batched targets each variant had queued, from each instant a restock of it was decided
    select shop, variant_id, decided_at, max(place) as queued
    from pool
    group by shop, variant_id, decided_at

),

batch_walk as (

    -- one step per batch, for every variant at once (no ASOF join inside a recursive CTE: DuckDB does not
    -- support it there; plain joins with arg_min/arg_max pick the rows instead)
    select * from (
        with recursive batches (shop, variant_id, batch_number, batch_at, released) as (

            select
                pooled_variants.shop,
                pooled_variants.variant_id,
                coalesce(batches_so_far.last_batch_number, 0),
                coalesce(batches_so_far.last_batch_at, {{ beginning }}),
                coalesce(batches_so_far.released, 0)
            from pooled_variants
            left join batches_so_far
                on batches_so_far.shop = pooled_variants.shop
                and batches_so_far.variant_id = pooled_variants.variant_id

            union all

            select
                chosen.shop,
                chosen.variant_id,
                chosen.batch_number + 1,
                chosen.batch_at,
                least(
                    max(queued_then.queued),
                    chosen.released + cast(ceil(chosen.multiplier * chosen.units) as bigint)
                )
            from (
                select
                    due.shop,
                    due.variant_id,
                    due.batch_number,
                    due.released,
                    -- a restock decided before the variant is in stock again starts the next batch
                    case
                        when due.next_restock_at is not null
                            and (again.at is null or due.next_restock_at <= again.at)
                            then due.next_restock_at
                        else again.at
                    end as batch_at,
                    case
                        when due.next_restock_at is not null
                            and (again.at is null or due.next_restock_at <= again.at)
                            then due.next_restock_units
                        else again.units
                    end as units,
                    case
                        when due.next_restock_at is not null
                            and (again.at is null or due.next_restock_at <= again.at)
                            then due.next_restock_multiplier
                        else due.multiplier
                    end as multiplier
                from (
                    select
                        last.shop,
                        last.variant_id,
                        last.batch_number,
                        last.batch_at,
                        last.released,
                        arg_max(rules_then.batch_multiplier, rules_then.decided_at) as multiplier,
                        last.batch_at + {{ minutes_interval(
                            'coalesce(arg_max(rules_then.batch_interval_minutes, rules_then.decided_at), 0)') }}
                            as next_due_at,
                        -- with targets left over, the next batch waits for the interval and for stock
                        last.released < coalesce(max(queued_now.queued), 0) as has_left_over,
                        min(restock_next.decided_at) as next_restock_at,
                        arg_min(restock_next.sellable_quantity, restock_next.decided_at) as next_restock_units,
                        arg_min(restock_next.batch_multiplier, restock_next.decided_at) as next_restock_multiplier
                    from batches as last
                    left join batched_restocks as rules_then
                        on rules_then.shop = last.shop
                        and rules_then.variant_id = last.variant_id
                        and rules_then.decided_at <= last.batch_at
                    left join queued as queued_now
                        on queued_now.shop = last.shop
                        and queued_now.variant_id = last.variant_id
                        and queued_now.decided_at <= last.batch_at
                    left join batched_restocks as restock_next
                        on restock_next.shop = last.shop
                        and restock_next.variant_id = last.variant_id
                        and restock_next.decided_at > last.batch_at
                    group by last.shop, last.variant_id, last.batch_number, last.batch_at, last.released
                ) as due
                left join (
                    -- one interval on, or as soon after as it is in stock (as the product knew it then)
                    select
                        pending.shop,
                        pending.variant_id,
                        case
                            when arg_max(known.stock_state, known.known_at)
                                filter (where known.known_at <= pending.next_due_at) = 'in_stock'
                                then pending.next_due_at
                            else min(known.known_at)
                                filter (where known.known_at > pending.next_due_at and known.stock_state = 'in_stock')
                        end as at,
                        case
                            when arg_max(known.stock_state, known.known_at)
                                filter (where known.known_at <= pending.next_due_at) = 'in_stock'
                                then arg_max(known.sellable_quantity, known.known_at)
                                    filter (where known.known_at <= pending.next_due_at)
                            else arg_min(known.sellable_quantity, known.known_at)
                                filter (where known.known_at > pending.next_due_at and known.stock_state = 'in_stock')
                        end as units
                    from (
                        select
                            last.shop,
                            last.variant_id,
                            last.batch_at + {{ minutes_interval(
                                'coalesce(arg_max(rules_then.batch_interval_minutes, rules_then.decided_at), 0)') }}
                                as next_due_at
                        from batches as last
                        left join batched_restocks as rules_then
                            on rules_then.shop = last.shop
                            and rules_then.variant_id = last.variant_id
                            and rules_then.decided_at <= last.batch_at
                        group by last.shop, last.variant_id, last.batch_at
                    ) as pending
                    inner join stock_as_known as known
                        on known.shop = pending.shop
                        and known.variant_id = pending.variant_id
                    group by pending.shop, pending.variant_id, pending.next_due_at
                ) as again
                    on again.shop = due.shop
                    and again.variant_id = due.variant_id
                    and due.has_left_over
            ) as chosen
            left join queued as queued_then
                on queued_then.shop = chosen.shop
                and queued_then.variant_id = chosen.variant_id
                and queued_then.decided_at <= chosen.batch_at
            where chosen.batch_at is not null
                and chosen.batch_at <= {{ as_of() }}
            group by chosen.shop, chosen.variant_id, chosen.batch_number, chosen.batch_at, chosen.released,
                chosen.multiplier, chosen.units

        )

        select * from batches where batch_number > 0
    )

),

released_in_batches as (

    select
        pool.target_id,
        batch_walk.batch_at as released_at,
        'batch' as released_by,
        cast(batch_walk.batch_number as bigint) as batch_number
    from batch_walk
    inner join pool
        on pool.shop = batch_walk.shop
        and pool.variant_id = batch_walk.variant_id
        and pool.place <= batch_walk.released
    qualify row_number() over (partition by pool.target_id order by batch_walk.batch_number) = 1

),

released as (

    select * from released_by_hand
    union all
    select * from released_at_once
    union all
    select released_in_batches.*
    from released_in_batches
    semi join targets on targets.target_id = released_in_batches.target_id

),

final as (

    select
        targets.target_id,
        targets.restock_event_id,
        targets.shop,
        targets.variant_id,
        targets.subscription_id,
        released.released_at,
        released.released_by,
        released.batch_number

    from released
    inner join targets on targets.target_id = released.target_id

)

select * from final
