-- The holdout's estimate of what the alerts cause (docs/architecture.md, "Incrementality"), per shop: the
-- conversion within the window of the treated targets against the held-out ones, the absolute lift with its
-- 95 % interval (Newcombe's hybrid score interval), the relative lift, and the incremental revenue (the
-- difference in net revenue per target, times the treated targets). An estimate from a random split, beside
-- last-touch attribution (which credits whatever follows a touch); null where a group is empty. The interval's
-- bounds are rounded to 6 decimals.
with

targets as (

    select * from {{ ref('int_holdout_targets_converted') }}

),

shops as (

    select shop, currency_code from {{ ref('stg_shopify__shops') }}

),

rules as (

    select * from {{ ref('int_shop_rules_resolved') }}

),

groups as (

    select
        shop,
        count(*) filter (where not is_held_out) as treated_targets,
        count(*) filter (where not is_held_out and is_converted) as treated_conversions,
        coalesce(sum(revenue) filter (where not is_held_out), 0) as treated_revenue,
        count(*) filter (where is_held_out) as held_out_targets,
        count(*) filter (where is_held_out and is_converted) as held_out_conversions,
        coalesce(sum(revenue) filter (where is_held_out), 0) as held_out_revenue

    from targets
    group by shop

),

counted as (

    select
        shops.shop,
        shops.currency_code,
        cast(coalesce(rules.holdout_share, {{ var('holdout_share') }}) as double) as holdout_share,
        cast(coalesce(rules.holdout_delay_minutes, {{ var('holdout_delay_minutes') }}) as integer)
            as window_minutes,
        cast(coalesce(groups.treated_targets, 0) as bigint) as treated_targets,
        cast(coalesce(groups.treated_conversions, 0) as bigint) as treated_conversions,
        cast(coalesce(groups.treated_revenue, 0) as decimal(14, 2)) as treated_revenue,
        cast(coalesce(groups.held_out_targets, 0) as bigint) as held_out_targets,
        cast(coalesce(groups.held_out_conversions, 0) as bigint) as held_out_conversions,
        cast(coalesce(groups.held_out_revenue, 0) as decimal(14, 2)) as held_out_revenue

    from shops
    left join rules on rules.shop = shops.shop
    left join groups on groups.shop = shops.shop

),

rated as (

    select
        *,
        cast(treated_conversions as double) / nullif(treated_targets, 0) as treated_conversion_rate,
        cast(held_out_conversions as double) / nullif(held_out_targets, 0) as held_out_conversion_rate

    from counted

),

final as (

    select
        shop,
        {{ as_of() }} as as_of,
        currency_code,
        holdout_share,
        window_minutes,
        treated_targets,
        treated_conversions,
        treated_conversion_rate,
        treated_revenue,
        held_out_targets,
        held_out_conversions,
        held_out_conversion_rate,
        held_out_revenue,
        treated_conversion_rate - held_out_conversion_rate as lift,
        round({{ newcombe_bound(
            'treated_conversions', 'treated_targets', 'held_out_conversions', 'held_out_targets', 'low'
        ) }}, 6) as lift_ci_low,
        round({{ newcombe_bound(
            'treated_conversions', 'treated_targets', 'held_out_conversions', 'held_out_targets', 'high'
        ) }}, 6) as lift_ci_high,
        (treated_conversion_rate - held_out_conversion_rate) / nullif(held_out_conversion_rate, 0) as relative_lift,
        cast(
            (cast(treated_revenue as double) / nullif(treated_targets, 0)
                - cast(held_out_revenue as double) / nullif(held_out_targets, 0)) * treated_targets
            as decimal(14, 2)
        ) as incremental_revenue

    from rated

)

select * from final
