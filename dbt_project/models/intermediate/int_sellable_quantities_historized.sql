{{
    config(
        materialized='incremental',
        incremental_strategy='delete+insert',
        unique_key=['inventory_item_id', 'fact_seq'],
        on_schema_change='fail'
    )
}}
-- The sellable history of every inventory item, append-only: one row per change of its sellable quantity or
-- stock state, at `valid_from` on the product's timeline, learned at `known_at`. A run processes only the
-- facts learned since the previous one, from each item's running state (the `is_latest` row carries every
-- level's newest state), so its cost follows the delta.
--
-- The timeline is what the product knew, in the order it learned it: a fact takes effect at Shopify's
-- updated_at, but never before anything already learned about the item (a late webhook, a poll finding a
-- change a lost webhook should have told, is placed after what was known). What was learned is therefore
-- never rewritten: the history known at any instant K is exactly the rows with known_at <= K.
-- A stale fact (older than the level's newest known state) and a duplicate (a poll re-reading what a webhook
-- said) change nothing and are dropped.
--
-- Sellable quantity = sum of max(available, 0) over the item's connected levels at locations that count
-- then: active, and fulfilling online orders unless a counted_locations rule names the locations. Stock
-- state: in_stock while sellable >= threshold (the rule then), out_of_stock below it, not_restockable while
-- the variant is untracked, sells on at zero (CONTINUE), is not known, or its product is not active.
{%- set level_type = "struct(location_id varchar, updated_at timestamp, available integer, is_connected boolean, counted bigint)" %}
with

processed as (

    {% if is_incremental() %}
    select coalesce(max(batch_fact_seq), 0) as through_seq from {{ this }}
    {% else %}
    select cast(0 as bigint) as through_seq
    {% endif %}

),

new_facts as (

    select facts.*
    from {{ ref('int_inventory_facts') }} as facts
    where facts.fact_seq > (select through_seq from processed)

),

items as (

    select distinct shop, inventory_item_id from new_facts

),

carried as (

    -- each item's running state after the previous run
    {% if is_incremental() %}
    select previous.*
    from {{ this }} as previous
    semi join items
        on items.shop = previous.shop
        and items.inventory_item_id = previous.inventory_item_id
    where previous.is_latest
    {% else %}
    select
        cast(null as varchar) as shop,
        cast(null as varchar) as inventory_item_id,
        cast(null as varchar) as variant_id,
        cast(null as varchar) as product_id,
        cast(null as timestamp) as valid_from,
        cast(null as timestamp) as known_at,
        cast(null as bigint) as fact_seq,
        cast(null as varchar) as fact_id,
        cast(null as bigint) as sellable_quantity,
        cast(null as integer) as threshold,
        cast(null as varchar) as stock_state,
        cast(null as boolean) as is_latest,
        cast(null as {{ level_type }}[]) as levels,
        cast(null as timestamp) as newest_effective_at,
        cast(null as bigint) as batch_fact_seq
    where false
    {% endif %}

),

carried_levels as (

    select
        carried.shop,
        carried.inventory_item_id,
        level.location_id,
        level.updated_at,
        level.available,
        level.is_connected
    from carried
    cross join unnest(carried.levels) as unnested(level)

),

judged as (

    -- each level fact against what was known of the level before it
    select
        *,
        max(updated_at) over earlier as newest_before,
        lag(struct_pack(available, is_connected)) over by_arrival as state_before
    from (
        select shop, inventory_item_id, location_id, updated_at, available, is_connected, known_at, fact_seq,
            fact_id, false as is_carried
        from new_facts
        where fact_kind = 'level'
        union all
        select shop, inventory_item_id, location_id, updated_at, available, is_connected, null, 0, null, true
        from carried_levels
    ) as levels
    window
        by_arrival as (partition by shop, inventory_item_id, location_id order by fact_seq),
        earlier as (by_arrival rows between unbounded preceding and 1 preceding)

),

accepted_levels as (

    select *
    from judged
    where not is_carried
        and (
            newest_before is null
            or updated_at > newest_before
            or (updated_at = newest_before and struct_pack(available, is_connected) is distinct from state_before)
        )

),

changes as (

    select shop, inventory_item_id, fact_seq, fact_id, 'level' as fact_kind, location_id, available, is_connected,
        updated_at as shopify_at, known_at
    from accepted_levels
    union all
    select shop, inventory_item_id, fact_seq, fact_id, 'tick', null, null, null, known_at, known_at
    from new_facts
    where fact_kind = 'tick'

),

floors as (

    -- nothing learned at an instant takes effect before what was learned earlier
    select
        learned.shop,
        learned.inventory_item_id,
        learned.known_at,
        greatest(
            carried.newest_effective_at,
            max(learned.newest_at) over (
                partition by learned.shop, learned.inventory_item_id
                order by learned.known_at
                rows between unbounded preceding and 1 preceding
            )
        ) as floor_at
    from (
        select shop, inventory_item_id, known_at, max(shopify_at) as newest_at
        from changes
        group by shop, inventory_item_id, known_at
    ) as learned
    left join carried
        on carried.shop = learned.shop
        and carried.inventory_item_id = learned.inventory_item_id

),

steps as (

    select
        changes.*,
        greatest(changes.shopify_at, floors.floor_at) as effective_at,
        row_number() over (
            partition by changes.shop, changes.inventory_item_id
            order by changes.known_at, greatest(changes.shopify_at, floors.floor_at), changes.fact_seq
        ) as step
    from changes
    inner join floors
        on floors.shop = changes.shop
        and floors.inventory_item_id = changes.inventory_item_id
        and floors.known_at = changes.known_at

),

variant_versions as (

    select *, {{ version_applies_from('shop, variant_id') }} as applies_from
    from {{ ref('stg_shopify__variant_versions') }}
    where inventory_item_id is not null

),

product_versions as (

    select *, {{ version_applies_from('shop, product_id') }} as applies_from
    from {{ ref('stg_shopify__product_versions') }}

),

location_versions as (

    select *, {{ version_applies_from('shop, location_id') }} as applies_from
    from {{ ref('stg_shopify__location_versions') }}

),

step_variants as (

    -- the variant and product each step belongs to, as known then
    select
        steps.*,
        case when {{ version_known('variants', 'steps.known_at') }} then variants.variant_id end as variant_id,
        case when {{ version_known('variants', 'steps.known_at') }} then variants.product_id end as product_id,
        {{ version_known('variants', 'steps.known_at') }}
            and variants.is_tracked
            and variants.inventory_policy = 'DENY' as variant_can_restock
    from steps
    asof left join variant_versions as variants
        on variants.shop = steps.shop
        and variants.inventory_item_id = steps.inventory_item_id
        and variants.applies_from <= steps.effective_at

),

step_rules as (

    select
        step_variants.*,
        step_variants.variant_can_restock
            and coalesce(
                case when {{ version_known('products', 'step_variants.known_at') }} then products.product_status end,
                'ACTIVE'
            ) = 'ACTIVE' as can_restock,
        {{ rule_value('rules', 'threshold') }} as threshold,
        {{ rule_value('rules', 'counted_locations') }} as counted_locations
    from step_variants
    asof left join product_versions as products
        on products.shop = step_variants.shop
        and products.product_id = step_variants.product_id
        and products.applies_from <= step_variants.effective_at
    {{ rule_joins('rules', 'step_variants.shop', 'step_variants.product_id', 'step_variants.variant_id',
        'step_variants.effective_at', ['threshold', 'counted_locations']) }}

),

item_locations as (

    select distinct shop, inventory_item_id, location_id from carried_levels
    union
    select distinct shop, inventory_item_id, location_id from accepted_levels

),

level_evaluations as (

    -- where a level's counted contribution may change: its own facts, and every tick (a location's flags,
    -- a rule, the variant may change which levels count); step 0 is the level as carried in
    select step_rules.shop, step_rules.inventory_item_id, step_rules.step, step_rules.location_id,
        struct_pack(updated_at := step_rules.shopify_at, available := step_rules.available,
            is_connected := step_rules.is_connected) as level_fact
    from step_rules
    where step_rules.fact_kind = 'level'
    union all
    select step_rules.shop, step_rules.inventory_item_id, step_rules.step, item_locations.location_id, null
    from step_rules
    inner join item_locations
        on item_locations.shop = step_rules.shop
        and item_locations.inventory_item_id = step_rules.inventory_item_id
    where step_rules.fact_kind = 'tick'
    union all
    select shop, inventory_item_id, 0, location_id,
        struct_pack(updated_at := updated_at, available := available, is_connected := is_connected)
    from carried_levels

),

level_states as (

    select
        level_evaluations.shop,
        level_evaluations.inventory_item_id,
        level_evaluations.step,
        level_evaluations.location_id,
        last_value(level_evaluations.level_fact ignore nulls) over (
            partition by level_evaluations.shop, level_evaluations.inventory_item_id, level_evaluations.location_id
            order by level_evaluations.step
            rows between unbounded preceding and current row
        ) as level,
        coalesce(step_rules.effective_at, carried.newest_effective_at) as effective_at,
        coalesce(step_rules.known_at, carried.known_at) as known_at,
        case when level_evaluations.step = 0 then null else step_rules.counted_locations end as counted_locations,
        level_evaluations.step = 0 as is_carried
    from level_evaluations
    left join step_rules
        on step_rules.shop = level_evaluations.shop
        and step_rules.inventory_item_id = level_evaluations.inventory_item_id
        and step_rules.step = level_evaluations.step
    left join carried
        on carried.shop = level_evaluations.shop
        and carried.inventory_item_id = level_evaluations.inventory_item_id

),

contributions as (

    select
        level_states.shop,
        level_states.inventory_item_id,
        level_states.step,
        level_states.location_id,
        level_states.level,
        case
            when level_states.is_carried then carried_counts.counted
            when coalesce((level_states.level).is_connected, false)
                and {{ version_known('locations', 'level_states.known_at') }}
                and locations.is_active
                and coalesce(
                    list_contains(level_states.counted_locations, level_states.location_id),
                    locations.fulfills_online_orders
                )
                then greatest(coalesce((level_states.level).available, 0), 0)
            else 0
        end as counted
    from level_states
    asof left join location_versions as locations
        on locations.shop = level_states.shop
        and locations.location_id = level_states.location_id
        and locations.applies_from <= level_states.effective_at
    left join (
        select shop, inventory_item_id, level.location_id, level.counted
        from (
            select carried.shop, carried.inventory_item_id, unnest(carried.levels) as level from carried
        )
    ) as carried_counts
        on carried_counts.shop = level_states.shop
        and carried_counts.inventory_item_id = level_states.inventory_item_id
        and carried_counts.location_id = level_states.location_id

),

deltas as (

    select
        *,
        counted - coalesce(
            lag(counted) over (partition by shop, inventory_item_id, location_id order by step), 0
        ) as change
    from contributions

),

step_quantities as (

    select
        every_step.shop,
        every_step.inventory_item_id,
        every_step.step,
        sum(coalesce(changes.change, 0)) over (
            partition by every_step.shop, every_step.inventory_item_id
            order by every_step.step
            rows between unbounded preceding and current row
        ) as sellable_quantity
    from (
        select shop, inventory_item_id, step from step_rules
        union
        select shop, inventory_item_id, 0 from carried
    ) as every_step
    left join (
        select shop, inventory_item_id, step, sum(change) as change
        from deltas
        group by shop, inventory_item_id, step
    ) as changes
        on changes.shop = every_step.shop
        and changes.inventory_item_id = every_step.inventory_item_id
        and changes.step = every_step.step

),

evaluated as (

    select
        step_rules.*,
        cast(step_quantities.sellable_quantity as bigint) as sellable_quantity,
        case
            when not coalesce(step_rules.can_restock, false) then 'not_restockable'
            when step_quantities.sellable_quantity >= step_rules.threshold then 'in_stock'
            else 'out_of_stock'
        end as stock_state
    from step_rules
    inner join step_quantities
        on step_quantities.shop = step_rules.shop
        and step_quantities.inventory_item_id = step_rules.inventory_item_id
        and step_quantities.step = step_rules.step

),

kept as (

    -- change-only: a row where the quantity or the state differs from the step before
    select evaluated.*
    from evaluated
    left join carried
        on carried.shop = evaluated.shop
        and carried.inventory_item_id = evaluated.inventory_item_id
    qualify struct_pack(q := evaluated.sellable_quantity, s := evaluated.stock_state) is distinct from coalesce(
        lag(struct_pack(q := evaluated.sellable_quantity, s := evaluated.stock_state)) over (
            partition by evaluated.shop, evaluated.inventory_item_id order by evaluated.step
        ),
        struct_pack(q := carried.sellable_quantity, s := carried.stock_state)
    )

),

level_summaries as (

    -- each item's levels after the batch: the running state the next run starts from
    select
        shop,
        inventory_item_id,
        list(
            struct_pack(
                location_id := location_id,
                updated_at := (level).updated_at,
                available := (level).available,
                is_connected := (level).is_connected,
                counted := counted
            )
            order by location_id
        ) as levels
    from (
        select *
        from contributions
        qualify row_number() over (
            partition by shop, inventory_item_id, location_id order by step desc
        ) = 1
    ) as newest_levels
    group by shop, inventory_item_id

),

item_summaries as (

    select
        items.shop,
        items.inventory_item_id,
        (select max(step) from kept where kept.shop = items.shop and kept.inventory_item_id = items.inventory_item_id)
            as last_kept_step,
        greatest(
            carried.newest_effective_at,
            (select max(effective_at) from steps
             where steps.shop = items.shop and steps.inventory_item_id = items.inventory_item_id)
        ) as newest_effective_at,
        coalesce(level_summaries.levels, carried.levels) as levels
    from items
    left join carried
        on carried.shop = items.shop
        and carried.inventory_item_id = items.inventory_item_id
    left join level_summaries
        on level_summaries.shop = items.shop
        and level_summaries.inventory_item_id = items.inventory_item_id

),

new_rows as (

    select
        kept.shop,
        kept.inventory_item_id,
        kept.variant_id,
        kept.product_id,
        kept.effective_at as valid_from,
        kept.known_at,
        kept.fact_seq,
        kept.fact_id,
        kept.sellable_quantity,
        cast(kept.threshold as integer) as threshold,
        kept.stock_state,
        kept.step = summaries.last_kept_step as is_latest,
        case when kept.step = summaries.last_kept_step then summaries.levels end as levels,
        case when kept.step = summaries.last_kept_step then summaries.newest_effective_at end
            as newest_effective_at
    from kept
    inner join item_summaries as summaries
        on summaries.shop = kept.shop
        and summaries.inventory_item_id = kept.inventory_item_id

),

carried_rows as (

    -- the previous latest row: history now if the batch changed the item, else still the latest, with the
    -- levels and newest instant updated
    select
        carried.shop,
        carried.inventory_item_id,
        carried.variant_id,
        carried.product_id,
        carried.valid_from,
        carried.known_at,
        carried.fact_seq,
        carried.fact_id,
        carried.sellable_quantity,
        carried.threshold,
        carried.stock_state,
        summaries.last_kept_step is null as is_latest,
        case when summaries.last_kept_step is null then summaries.levels end as levels,
        case when summaries.last_kept_step is null then summaries.newest_effective_at end as newest_effective_at
    from carried
    inner join item_summaries as summaries
        on summaries.shop = carried.shop
        and summaries.inventory_item_id = carried.inventory_item_id

),

final as (

    select
        *,
        (select max(fact_seq) from new_facts) as batch_fact_seq
    from (
        select * from new_rows
        union all
        select * from carried_rows
    ) as emitted

)

select * from final
