{#-
    The SQL of int_sellable_quantities_historized (see the model for what it is), for one slice of the items.

    A --full-refresh takes the facts in slices of about var('rebuild_facts_per_slice') facts, by a hash of the
    item (the sellable history of an item depends on its own facts only): the model's statement builds slice
    0 and its post-hook (sellable_history_remaining_slices) appends the others, so each slice's windows and
    joins fit in DuckDB's memory instead of spilling the whole history. A cycle, and a first build without
    --full-refresh, is one slice.

    Inside, items, locations and products go by numbers given here (item_key, location_key, product_key), not
    by their (shop, id) strings: a rebuild sorts every fact by item several times, and sorting and hashing
    the gid strings was most of its cost (docs/benchmarks.md, detection).
-#}

{% macro sellable_history_slices() -%}
    {#- how many slices the facts of this run are built in: several only for a --full-refresh -#}
    {%- if should_full_refresh() -%}
        cast(greatest(1, ceil(count(*) / {{ var('rebuild_facts_per_slice') }})) as bigint)
    {%- else -%}
        cast(1 as bigint)
    {%- endif -%}
{%- endmacro %}

{% macro sellable_history_remaining_slices() -%}
    {%- if execute and should_full_refresh() -%}
        {%- set slices = run_query(
            "select " ~ sellable_history_slices() ~ " from " ~ ref('int_inventory_facts')
        ).columns[0].values()[0] -%}
        {%- for slice_number in range(1, slices | int) %}
    insert into {{ this }} {{ sellable_history(slice_number) }};
        {%- endfor -%}
    {%- endif -%}
{%- endmacro %}

{% macro sellable_history(slice_number) -%}
{%- set level_type = "struct(location_id varchar, updated_at timestamp, available integer, is_connected boolean, counted bigint)" %}
with

processed as (

    {{ processed_through_seq() }}

),

batch as (

    select max(fact_seq) as newest_fact_seq, {{ sellable_history_slices() }} as slices
    from {{ ref('int_inventory_facts') }}
    where fact_seq > (select through_seq from processed)

),

new_facts as (

    select facts.*
    from {{ ref('int_inventory_facts') }} as facts
    where facts.fact_seq > (select through_seq from processed)
        and hash(facts.shop, facts.inventory_item_id) % (select slices from batch) = {{ slice_number }}

),

items as (

    select shop, inventory_item_id, row_number() over (order by shop, inventory_item_id) as item_key
    from (select distinct shop, inventory_item_id from new_facts) as batch_items

),

carried as (

    -- each item's running state after the previous run
    {% if is_incremental() %}
    select items.item_key, previous.*
    from {{ this }} as previous
    inner join items
        on items.shop = previous.shop
        and items.inventory_item_id = previous.inventory_item_id
    where previous.is_latest
    {% else %}
    select
        cast(null as bigint) as item_key,
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

    select carried.item_key, carried.shop, level.location_id, level.updated_at, level.available, level.is_connected,
        level.counted
    from carried
    cross join unnest(carried.levels) as unnested(level)

),

locations as (

    select shop, location_id, row_number() over (order by shop, location_id) as location_key
    from (
        select shop, location_id from new_facts where fact_kind = 'level'
        union
        select shop, location_id from carried_levels
    ) as batch_locations

),

levels as (

    -- the batch's level facts, and each level as carried in (is_carried, fact_seq 0)
    select items.item_key, locations.location_key, facts.updated_at, facts.available, facts.is_connected,
        facts.known_at, facts.fact_seq, facts.fact_id, cast(null as bigint) as counted, false as is_carried
    from new_facts as facts
    inner join items
        on items.shop = facts.shop
        and items.inventory_item_id = facts.inventory_item_id
    inner join locations
        on locations.shop = facts.shop
        and locations.location_id = facts.location_id
    where facts.fact_kind = 'level'
    union all
    select carried_levels.item_key, locations.location_key, carried_levels.updated_at, carried_levels.available,
        carried_levels.is_connected, null, 0, null, carried_levels.counted, true
    from carried_levels
    inner join locations
        on locations.shop = carried_levels.shop
        and locations.location_id = carried_levels.location_id

),

judged as (

    -- each level fact against what was known of the level before it
    select
        *,
        max(updated_at) over earlier as newest_before,
        lag(struct_pack(available, is_connected)) over by_arrival as state_before
    from levels
    window
        by_arrival as (partition by item_key, location_key order by fact_seq),
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

    select item_key, fact_seq, fact_id, 'level' as fact_kind, location_key, available, is_connected,
        updated_at as shopify_at, known_at
    from accepted_levels
    union all
    select items.item_key, facts.fact_seq, facts.fact_id, 'tick', null, null, null, facts.known_at, facts.known_at
    from new_facts as facts
    inner join items
        on items.shop = facts.shop
        and items.inventory_item_id = facts.inventory_item_id
    where facts.fact_kind = 'tick'

),

floors as (

    -- nothing learned at an instant takes effect before what was learned earlier
    select
        learned.item_key,
        learned.known_at,
        greatest(
            carried.newest_effective_at,
            max(learned.newest_at) over (
                partition by learned.item_key
                order by learned.known_at
                rows between unbounded preceding and 1 preceding
            )
        ) as floor_at
    from (
        select item_key, known_at, max(shopify_at) as newest_at
        from changes
        group by item_key, known_at
    ) as learned
    left join carried
        on carried.item_key = learned.item_key

),

steps as (

    select
        changes.*,
        greatest(changes.shopify_at, floors.floor_at) as effective_at,
        row_number() over (
            partition by changes.item_key
            order by changes.known_at, greatest(changes.shopify_at, floors.floor_at), changes.fact_seq
        ) as step
    from changes
    inner join floors
        on floors.item_key = changes.item_key
        and floors.known_at = changes.known_at

),

products as (

    select shop, product_id, row_number() over (order by shop, product_id) as product_key
    from (select distinct shop, product_id from {{ ref('stg_shopify__product_versions') }}) as known_products

),

variant_versions as (

    select items.item_key, products.product_key, versions.*
    from (
        select *, {{ version_applies_from('shop, variant_id') }} as applies_from
        from {{ ref('stg_shopify__variant_versions') }}
        where inventory_item_id is not null
    ) as versions
    inner join items
        on items.shop = versions.shop
        and items.inventory_item_id = versions.inventory_item_id
    left join products
        on products.shop = versions.shop
        and products.product_id = versions.product_id

),

product_versions as (

    select products.product_key, versions.*
    from (
        select *, {{ version_applies_from('shop, product_id') }} as applies_from
        from {{ ref('stg_shopify__product_versions') }}
    ) as versions
    inner join products
        on products.shop = versions.shop
        and products.product_id = versions.product_id

),

location_versions as (

    -- each version of a location with the instant the next one applies from (a location has few versions: a
    -- join on the interval instead of an ASOF join, which sorts every level evaluation by location)
    select
        locations.location_key,
        versions.*,
        lead(versions.applies_from) over (
            partition by locations.location_key order by versions.applies_from
        ) as applies_until
    from (
        select *, {{ version_applies_from('shop, location_id') }} as applies_from
        from {{ ref('stg_shopify__location_versions') }}
    ) as versions
    inner join locations
        on locations.shop = versions.shop
        and locations.location_id = versions.location_id

),

step_variants as (

    -- the variant and product each step belongs to, as known then
    select
        steps.*,
        items.shop,
        case when {{ version_known('variants', 'steps.known_at') }} then variants.variant_id end as variant_id,
        case when {{ version_known('variants', 'steps.known_at') }} then variants.product_id end as product_id,
        case when {{ version_known('variants', 'steps.known_at') }} then variants.product_key end as product_key,
        {{ version_known('variants', 'steps.known_at') }}
            and variants.is_tracked
            and variants.inventory_policy = 'DENY' as variant_can_restock
    from steps
    inner join items
        on items.item_key = steps.item_key
    asof left join variant_versions as variants
        on variants.item_key = steps.item_key
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
        on products.product_key = step_variants.product_key
        and products.applies_from <= step_variants.effective_at
    {{ rule_joins('rules', 'step_variants.shop', 'step_variants.product_id', 'step_variants.variant_id',
        'step_variants.effective_at', ['threshold', 'counted_locations']) }}

),

item_locations as (

    select distinct item_key, location_key from levels where is_carried
    union
    select distinct item_key, location_key from accepted_levels

),

level_evaluations as (

    -- where a level's counted contribution may change: its own facts, and every tick (a location's flags,
    -- a rule, the variant may change which levels count); step 0 is the level as carried in
    select item_key, step, location_key,
        struct_pack(updated_at := shopify_at, available := available, is_connected := is_connected) as level_fact,
        effective_at, known_at, counted_locations, cast(null as bigint) as carried_counted, false as is_carried
    from step_rules
    where fact_kind = 'level'
    union all
    select step_rules.item_key, step_rules.step, item_locations.location_key, null, step_rules.effective_at,
        step_rules.known_at, step_rules.counted_locations, null, false
    from step_rules
    inner join item_locations
        on item_locations.item_key = step_rules.item_key
    where step_rules.fact_kind = 'tick'
    union all
    select levels.item_key, 0, levels.location_key,
        struct_pack(updated_at := levels.updated_at, available := levels.available,
            is_connected := levels.is_connected),
        carried.newest_effective_at, carried.known_at, null, levels.counted, true
    from levels
    inner join carried
        on carried.item_key = levels.item_key
    where levels.is_carried

),

level_states as (

    select
        *,
        last_value(level_fact ignore nulls) over (
            partition by item_key, location_key
            order by step
            rows between unbounded preceding and current row
        ) as level
    from level_evaluations

),

contributions as (

    select
        level_states.item_key,
        level_states.step,
        level_states.location_key,
        locations.location_id,
        level_states.level,
        case
            when level_states.is_carried then level_states.carried_counted
            when coalesce((level_states.level).is_connected, false)
                and {{ version_known('locations', 'level_states.known_at') }}
                and locations.is_active
                and coalesce(
                    list_contains(level_states.counted_locations, locations.location_id),
                    locations.fulfills_online_orders
                )
                then greatest(coalesce((level_states.level).available, 0), 0)
            else 0
        end as counted
    from level_states
    left join location_versions as locations
        on locations.location_key = level_states.location_key
        and locations.applies_from <= level_states.effective_at
        and (locations.applies_until is null or level_states.effective_at < locations.applies_until)

),

deltas as (

    select
        *,
        counted - coalesce(lag(counted) over by_step, 0) as change,
        lead(step) over by_step is null as is_newest
    from contributions
    window by_step as (partition by item_key, location_key order by step)

),

step_changes as (

    select item_key, step, sum(change) as change
    from deltas
    group by item_key, step

),

quantities as (

    -- each step's sellable quantity (the carried-in levels, step 0, plus every change since) beside the step
    -- before it
    select
        step_rules.*,
        cast(coalesce(carried_in.change, 0) + sum(coalesce(changes.change, 0)) over through as bigint)
            as sellable_quantity,
        cast(coalesce(carried_in.change, 0) + coalesce(sum(coalesce(changes.change, 0)) over before, 0) as bigint)
            as quantity_before,
        lag(step_rules.can_restock) over by_step as can_restock_before,
        lag(step_rules.threshold) over by_step as threshold_before,
        lag(step_rules.step) over by_step is null as is_first
    from step_rules
    left join step_changes as changes
        on changes.item_key = step_rules.item_key
        and changes.step = step_rules.step
    left join step_changes as carried_in
        on carried_in.item_key = step_rules.item_key
        and carried_in.step = 0
    window
        by_step as (partition by step_rules.item_key order by step_rules.step),
        through as (by_step rows between unbounded preceding and current row),
        before as (by_step rows between unbounded preceding and 1 preceding)

),

kept as (

    -- change-only: a row where the quantity or the state differs from the step before (the first step: from
    -- the carried-in row)
    select quantities.*, {{ stock_state('quantities.can_restock', 'quantities.sellable_quantity', 'quantities.threshold') }} as stock_state
    from quantities
    left join carried
        on carried.item_key = quantities.item_key
    where struct_pack(
            q := quantities.sellable_quantity,
            s := {{ stock_state('quantities.can_restock', 'quantities.sellable_quantity', 'quantities.threshold') }}
        ) is distinct from case
            when quantities.is_first then struct_pack(q := carried.sellable_quantity, s := carried.stock_state)
            else struct_pack(
                q := quantities.quantity_before,
                s := {{ stock_state('quantities.can_restock_before', 'quantities.quantity_before', 'quantities.threshold_before') }}
            )
        end

),

level_summaries as (

    -- each item's levels after the batch: the running state the next run starts from
    select
        item_key,
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
    from deltas
    where is_newest
    group by item_key

),

item_summaries as (

    select
        items.item_key,
        items.shop,
        items.inventory_item_id,
        kept_steps.last_kept_step,
        greatest(carried.newest_effective_at, effective.newest_effective_at) as newest_effective_at,
        coalesce(level_summaries.levels, carried.levels) as levels
    from items
    left join carried
        on carried.item_key = items.item_key
    left join level_summaries
        on level_summaries.item_key = items.item_key
    left join (select item_key, max(step) as last_kept_step from kept group by item_key) as kept_steps
        on kept_steps.item_key = items.item_key
    left join (select item_key, max(effective_at) as newest_effective_at from steps group by item_key) as effective
        on effective.item_key = items.item_key

),

new_rows as (

    select
        summaries.shop,
        summaries.inventory_item_id,
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
        on summaries.item_key = kept.item_key

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
        on summaries.item_key = carried.item_key

),

final as (

    select
        *,
        (select newest_fact_seq from batch) as batch_fact_seq
    from (
        select * from new_rows
        union all
        select * from carried_rows
    ) as emitted

)

select * from final
{%- endmacro %}
