{{
    config(
        materialized='incremental',
        incremental_strategy='append',
        unique_key=['restock_event_id', 'fact_id'],
        on_schema_change='fail'
    )
}}
-- Late facts about fired restocks, appended as they are learned: one row per fired restock and level fact
-- the product learned only after it decided, though Shopify's instant of the fact falls between the restock
-- and the decision (a webhook that came late, a change only a poll found). restock_late_data says whether
-- they contradict it.
with

restocks as (

    select * from {{ ref('restock_events') }}

),

facts as (

    select facts.*
    from {{ ref('int_inventory_facts') }} as facts
    semi join restocks on restocks.shop = facts.shop and restocks.inventory_item_id = facts.inventory_item_id
    where facts.fact_kind = 'level'
    {% if is_incremental() %}
        and facts.fact_seq > (select coalesce(max(fact_seq), 0) from {{ this }})
    {% endif %}

),

late as (

    select restocks.*, facts.fact_id, facts.fact_seq, facts.source, facts.location_id, facts.available,
        facts.is_connected, facts.updated_at as fact_updated_at, facts.known_at as fact_known_at
    from restocks
    inner join facts
        on facts.shop = restocks.shop
        and facts.inventory_item_id = restocks.inventory_item_id
        and facts.known_at > restocks.decided_at
        and facts.updated_at >= restocks.restocked_at
        and facts.updated_at <= restocks.decided_at

),

final as (

    select
        restock_event_id,
        shop,
        variant_id,
        inventory_item_id,
        restocked_at,
        decided_at,
        debounce_minutes,
        fact_id,
        fact_seq,
        source,
        location_id,
        available,
        is_connected,
        fact_updated_at,
        fact_known_at

    from late

)

select * from final
