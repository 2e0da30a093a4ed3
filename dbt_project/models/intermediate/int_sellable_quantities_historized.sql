-- Sellable quantity of each restockable variant (tracked, policy DENY), change-only: one row per change, valid
-- from valid_from until valid_to (null: still valid at as_of).
-- Sellable at t = sum over locations of max(available, 0), each location's latest observation with
-- updated_at <= t (a location never observed counts 0; a null available counts 0). History starts at the
-- variant's first observation.
with

variants as (

    select shop, variant_id, product_id, inventory_item_id
    from {{ ref('stg_shopify__variants') }}
    where can_restock
        and inventory_item_id is not null

),

observations as (

    select
        variants.shop,
        variants.variant_id,
        variants.product_id,
        observations.location_id,
        observations.updated_at,
        greatest(coalesce(observations.available, 0), 0) as counted_quantity

    from {{ ref('int_inventory_observations_unioned') }} as observations
    inner join variants
        on observations.shop = variants.shop
        and observations.inventory_item_id = variants.inventory_item_id

),

location_changes as (

    -- what each observation adds to the variant's sum: its count minus the location's previous count
    select
        shop,
        variant_id,
        product_id,
        updated_at,
        counted_quantity - coalesce(
            lag(counted_quantity) over (
                partition by shop, variant_id, location_id
                order by updated_at
            ),
            0
        ) as quantity_change

    from observations

),

instants as (

    select
        shop,
        variant_id,
        product_id,
        updated_at,
        sum(quantity_change) as quantity_change

    from location_changes
    group by shop, variant_id, product_id, updated_at

),

running as (

    select
        shop,
        variant_id,
        product_id,
        updated_at,
        cast(
            sum(quantity_change) over (
                partition by shop, variant_id
                order by updated_at
                rows between unbounded preceding and current row
            ) as bigint
        ) as sellable_quantity

    from instants

),

changes_only as (

    select *
    from running
    qualify sellable_quantity is distinct from lag(sellable_quantity) over (
        partition by shop, variant_id
        order by updated_at
    )

),

final as (

    select
        shop,
        variant_id,
        product_id,
        sellable_quantity,
        updated_at as valid_from,
        lead(updated_at) over (partition by shop, variant_id order by updated_at) as valid_to

    from changes_only

)

select * from final
