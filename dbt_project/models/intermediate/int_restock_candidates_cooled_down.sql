-- Restock candidates (a debounced in-stock segment right after an out-of-stock one, at the segment's start)
-- and which of them fire under the sequential cooldown: the first candidate of a variant fires; a later one
-- fires only when it starts at least cooldown_hours after the last candidate that fired. A suppressed
-- candidate starts no cooldown, so this is a walk from fired candidate to fired candidate (recursive CTE).
with

candidates as (

    select
        shop,
        variant_id,
        product_id,
        started_at as candidate_at,
        row_number() over (partition by shop, variant_id order by started_at) as candidate_number

    from {{ ref('int_stock_segments_debounced') }}
    where follows_out_of_stock

),

next_eligible as (

    -- for each candidate, the first later candidate far enough from it to fire if this one fired
    select
        candidates.shop,
        candidates.variant_id,
        candidates.candidate_number,
        min(later.candidate_number) as next_candidate_number

    from candidates
    left join candidates as later
        on later.shop = candidates.shop
        and later.variant_id = candidates.variant_id
        and later.candidate_at >= candidates.candidate_at + {{ hours_interval(var('cooldown_hours')) }}
    group by candidates.shop, candidates.variant_id, candidates.candidate_number

),

fired as (

    select * from (
        with recursive chain (shop, variant_id, candidate_number) as (

            select shop, variant_id, candidate_number
            from next_eligible
            where candidate_number = 1

            union all

            select next_eligible.shop, next_eligible.variant_id, next_eligible.next_candidate_number
            from chain
            inner join next_eligible
                on next_eligible.shop = chain.shop
                and next_eligible.variant_id = chain.variant_id
                and next_eligible.candidate_number = chain.candidate_number
            where next_eligible.next_candidate_number is not null

        )

        select * from chain
    )

),

final as (

    select
        candidates.shop,
        candidates.variant_id,
        candidates.product_id,
        candidates.candidate_at,
        cast(candidates.candidate_number as bigint) as candidate_number,
        fired.candidate_number is not null as is_fired

    from candidates
    left join fired
        on fired.shop = candidates.shop
        and fired.variant_id = candidates.variant_id
        and fired.candidate_number = candidates.candidate_number

)

select * from final
