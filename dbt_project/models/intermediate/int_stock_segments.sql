{{
    config(
        materialized='incremental',
        incremental_strategy='delete+insert',
        unique_key=['inventory_item_id', 'start_fact_seq'],
        on_schema_change='fail'
    )
}}
-- The sellable history cut into segments of one stock state (in_stock, out_of_stock, not_restockable): one
-- row per segment, the open (last) one of each item re-emitted as the history grows. Each segment says when
-- it started and ended on the timeline and when the product learned each, so a decision can be judged with
-- what was known at any instant.
--
-- Debounce: a segment is lasting when it held for the debounce (the rule at its start). A restock
-- candidate is an in_stock segment whose previous lasting segment (not_restockable ones are skipped) was
-- out_of_stock: a short flap in stock, or a short dip out of it, is never a candidate. It is confirmed at
-- `confirm_at` = max(start + debounce, when its start was learned) unless by then the product already knew
-- it had ended early; a segment whose early end was learned only later was confirmed all the same (what
-- was known then said so); restock_late_data flags it.
with

processed as (

    {{ processed_through_seq() }}

),

new_history as (

    select history.*
    from {{ ref('int_sellable_quantities_historized') }} as history
    where history.batch_fact_seq > (select through_seq from processed)

),

items as (

    select distinct shop, inventory_item_id from new_history

),

open_segments as (

    {% if is_incremental() %}
    select segments.*
    from {{ this }} as segments
    semi join items
        on items.shop = segments.shop
        and items.inventory_item_id = segments.inventory_item_id
    where segments.is_open
    {% else %}
    select
        cast(null as varchar) as shop,
        cast(null as varchar) as inventory_item_id,
        cast(null as varchar) as variant_id,
        cast(null as varchar) as product_id,
        cast(null as varchar) as stock_state,
        cast(null as timestamp) as started_at,
        cast(null as timestamp) as start_known_at,
        cast(null as bigint) as start_fact_seq,
        cast(null as varchar) as start_fact_id,
        cast(null as bigint) as start_quantity,
        cast(null as integer) as start_threshold,
        cast(null as integer) as debounce_minutes,
        cast(null as bigint) as last_fact_seq,
        cast(null as timestamp) as ended_at,
        cast(null as timestamp) as end_known_at,
        cast(null as boolean) as is_open,
        cast(null as varchar) as previous_lasting_state
    where false
    {% endif %}

),

rows_in_order as (

    -- the open segment's start, then the history rows it has not seen
    select
        shop, inventory_item_id, variant_id, product_id, stock_state, started_at as valid_from,
        start_known_at as known_at, start_fact_seq as fact_seq, start_fact_id as fact_id,
        start_quantity as sellable_quantity, start_threshold as threshold, last_fact_seq as seen_through,
        true as is_carried
    from open_segments
    union all
    select
        new_history.shop, new_history.inventory_item_id, new_history.variant_id, new_history.product_id,
        new_history.stock_state, new_history.valid_from, new_history.known_at, new_history.fact_seq,
        new_history.fact_id, new_history.sellable_quantity, new_history.threshold, new_history.fact_seq, false
    from new_history
    left join open_segments
        on open_segments.shop = new_history.shop
        and open_segments.inventory_item_id = new_history.inventory_item_id
    where new_history.fact_seq > coalesce(open_segments.last_fact_seq, 0)

),

numbered as (

    select
        *,
        sum(is_start) over (
            partition by shop, inventory_item_id
            order by is_carried desc, valid_from, known_at, fact_seq
            rows between unbounded preceding and current row
        ) as segment_number
    from (
        select
            *,
            case
                when stock_state = lag(stock_state) over (
                    partition by shop, inventory_item_id order by is_carried desc, valid_from, known_at, fact_seq
                ) then 0
                else 1
            end as is_start
        from rows_in_order
    ) as flagged

),

grouped as (

    select
        shop,
        inventory_item_id,
        segment_number,
        stock_state,
        arg_min(variant_id, fact_seq) as variant_id,
        arg_min(product_id, fact_seq) as product_id,
        min(valid_from) as started_at,
        arg_min(known_at, fact_seq) as start_known_at,
        min(fact_seq) as start_fact_seq,
        arg_min(fact_id, fact_seq) as start_fact_id,
        arg_min(sellable_quantity, fact_seq) as start_quantity,
        arg_min(threshold, fact_seq) as start_threshold,
        max(seen_through) as last_fact_seq
    from numbered
    group by shop, inventory_item_id, segment_number, stock_state

),

with_rules as (

    select
        grouped.*,
        coalesce(open_segments.debounce_minutes, {{ rule_value('rules', 'debounce_minutes') }}) as debounce_minutes,
        lead(grouped.started_at) over by_item as ended_at,
        lead(grouped.start_known_at) over by_item as end_known_at,
        open_segments.previous_lasting_state as carried_previous_lasting_state
    from grouped
    left join open_segments
        on open_segments.shop = grouped.shop
        and open_segments.inventory_item_id = grouped.inventory_item_id
        and open_segments.start_fact_seq = grouped.start_fact_seq
    {{ rule_joins('rules', 'grouped.shop', 'grouped.product_id', 'grouped.variant_id', 'grouped.started_at',
        ['debounce_minutes']) }}
    window by_item as (partition by grouped.shop, grouped.inventory_item_id order by grouped.segment_number)

),

lasting as (

    select
        *,
        case
            when stock_state != 'not_restockable'
                and ended_at is not null
                and ended_at - started_at >= {{ minutes_interval('debounce_minutes') }}
                then stock_state
        end as lasting_state
    from with_rules

),

final as (

    select
        shop,
        inventory_item_id,
        variant_id,
        product_id,
        stock_state,
        started_at,
        start_known_at,
        start_fact_seq,
        start_fact_id,
        start_quantity,
        cast(start_threshold as integer) as start_threshold,
        cast(debounce_minutes as integer) as debounce_minutes,
        last_fact_seq,
        ended_at,
        end_known_at,
        ended_at is null as is_open,
        coalesce(
            carried_previous_lasting_state,
            last_value(lasting_state ignore nulls) over (
                partition by shop, inventory_item_id
                order by segment_number
                rows between unbounded preceding and 1 preceding
            ),
            first_value(carried_previous_lasting_state) over (
                partition by shop, inventory_item_id order by segment_number
            )
        ) as previous_lasting_state,
        (select max(batch_fact_seq) from new_history) as batch_fact_seq
    from lasting

)

select
    *,
    stock_state = 'in_stock' and previous_lasting_state = 'out_of_stock' as is_restock_candidate,
    greatest(started_at + {{ minutes_interval('debounce_minutes') }}, start_known_at) as confirm_at
from final
