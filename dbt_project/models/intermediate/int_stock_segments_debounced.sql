-- In/out-of-stock segments of each restockable variant after debouncing.
-- In stock while sellable >= threshold. The history is cut into segments of constant state; a segment shorter
-- than debounce_minutes is noise and dropped (the last one is measured to as_of, so a change younger than the
-- window is still pending); neighbours of the same state are then merged. `follows_out_of_stock` marks an in
-- segment right after an out segment: a restock candidate at its start.
with

history as (

    select
        *,
        sellable_quantity >= {{ var('threshold') }} as is_in_stock

    from {{ ref('int_sellable_quantities_historized') }}

),

state_starts as (

    select
        *,
        case
            when is_in_stock = lag(is_in_stock) over (partition by shop, variant_id order by valid_from)
                then 0
            else 1
        end as is_state_start

    from history

),

state_numbered as (

    select
        *,
        sum(is_state_start) over (
            partition by shop, variant_id
            order by valid_from
            rows between unbounded preceding and current row
        ) as state_number

    from state_starts

),

raw_segments as (

    select
        shop,
        variant_id,
        product_id,
        state_number,
        is_in_stock,
        min(valid_from) as started_at

    from state_numbered
    group by shop, variant_id, product_id, state_number, is_in_stock

),

measured as (

    select
        *,
        coalesce(
            lead(started_at) over (partition by shop, variant_id order by started_at),
            {{ as_of() }}
        ) as ended_at

    from raw_segments

),

lasting as (

    select *
    from measured
    where ended_at - started_at >= {{ minutes_interval(var('debounce_minutes')) }}

),

island_starts as (

    select
        *,
        case
            when is_in_stock = lag(is_in_stock) over (partition by shop, variant_id order by started_at)
                then 0
            else 1
        end as is_island_start

    from lasting

),

island_numbered as (

    select
        *,
        sum(is_island_start) over (
            partition by shop, variant_id
            order by started_at
            rows between unbounded preceding and current row
        ) as segment_number

    from island_starts

),

merged as (

    select
        shop,
        variant_id,
        product_id,
        segment_number,
        is_in_stock,
        min(started_at) as started_at

    from island_numbered
    group by shop, variant_id, product_id, segment_number, is_in_stock

),

final as (

    select
        shop,
        variant_id,
        product_id,
        cast(segment_number as bigint) as segment_number,
        is_in_stock,
        started_at,
        lead(started_at) over (partition by shop, variant_id order by started_at) as ended_at,
        coalesce(
            is_in_stock and not lag(is_in_stock) over (partition by shop, variant_id order by started_at),
            false
        ) as follows_out_of_stock

    from merged

)

select * from final
