-- One row per restock: a debounced return to stock that fired under the sequential cooldown. Records the rule
-- values it was decided with.
with

fired as (

    select * from {{ ref('int_restock_candidates_cooled_down') }}
    where is_fired

),

history as (

    select * from {{ ref('int_sellable_quantities_historized') }}

),

final as (

    select
        cast({{ restock_event_id('fired.shop', 'fired.variant_id', 'fired.candidate_at') }} as varchar)
            as restock_event_id,
        fired.shop,
        fired.variant_id,
        fired.product_id,
        fired.candidate_at as restocked_at,
        history.sellable_quantity,
        cast({{ var('threshold') }} as integer) as threshold,
        cast({{ var('debounce_minutes') }} as integer) as debounce_minutes,
        cast({{ var('cooldown_hours') }} as integer) as cooldown_hours

    from fired
    left join history
        on history.shop = fired.shop
        and history.variant_id = fired.variant_id
        and history.valid_from = fired.candidate_at

)

select * from final
