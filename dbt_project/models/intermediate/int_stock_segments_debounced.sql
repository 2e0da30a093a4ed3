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

raw_segments as (

    {{ state_runs('history', 'valid_from', 'state_number') }}

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

merged as (

    {{ state_runs('lasting', 'started_at', 'segment_number') }}

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
