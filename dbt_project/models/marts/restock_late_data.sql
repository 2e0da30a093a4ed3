{{
    config(
        materialized='incremental',
        incremental_strategy='delete+insert',
        unique_key='restock_event_id',
        on_schema_change='fail'
    )
}}
-- Fired restocks the product learned more about after deciding them: one row per restock with late facts
-- (int_restock_late_facts). The restock stays as it was decided (a fact); this says what it did not know
-- and whether, with everything known now, it contradicts the decision: the variant did not stay in stock
-- for the debounce from the restock (a warn test surfaces those).
-- Incremental: a run rewrites only the rows that can have changed, a restock with late facts not counted
-- yet or one still in stock when last written (the end of its in-stock segment is final once known: the
-- history is never rewritten), so its cost follows the delta and not every late fact ever learned.
with

late_facts as (

    select * from {{ ref('int_restock_late_facts') }}

),

{% if is_incremental() %}
to_write as (

    select counted.restock_event_id
    from (
        select restock_event_id, count(*) as late_facts
        from late_facts
        group by restock_event_id
    ) as counted
    left join {{ this }} as written on written.restock_event_id = counted.restock_event_id
    where written.late_facts is distinct from counted.late_facts
        or written.in_stock_until is null

),
{% endif %}

restocks as (

    select
        restock_event_id,
        any_value(shop) as shop,
        any_value(variant_id) as variant_id,
        any_value(inventory_item_id) as inventory_item_id,
        any_value(restocked_at) as restocked_at,
        any_value(decided_at) as decided_at,
        any_value(debounce_minutes) as debounce_minutes,
        count(*) as late_facts,
        min(fact_known_at) as first_learned_at,
        list(fact_id order by fact_seq) as late_fact_ids
    from late_facts
    {% if is_incremental() %}
    semi join to_write on to_write.restock_event_id = late_facts.restock_event_id
    {% endif %}
    group by restock_event_id

),

held as (

    -- how long the variant stayed in stock from the restock, by everything known now (null: still in stock)
    select
        restocks.restock_event_id,
        min(segments.ended_at) as in_stock_until,
        count(*) as segments_found
    from restocks
    inner join {{ ref('int_stock_segments') }} as segments
        on segments.inventory_item_id = restocks.inventory_item_id
        and segments.stock_state = 'in_stock'
        and segments.started_at <= restocks.restocked_at
        and (segments.ended_at is null or segments.ended_at > restocks.restocked_at)
    group by restocks.restock_event_id

),

final as (

    select
        restocks.restock_event_id,
        restocks.shop,
        restocks.variant_id,
        restocks.restocked_at,
        restocks.decided_at,
        restocks.late_facts,
        restocks.first_learned_at,
        restocks.late_fact_ids,
        held.in_stock_until,
        coalesce(
            held.in_stock_until < restocks.restocked_at + {{ minutes_interval('restocks.debounce_minutes') }},
            held.restock_event_id is null
        ) as contradicts

    from restocks
    left join held on held.restock_event_id = restocks.restock_event_id

)

select * from final
