-- Each stored rule value and the interval it was in force: from when the product knew of the change to the
-- next change of the same rule at the same scope. A clear is a version with a null value (the next wider
-- scope applies). Read through the rule_joins / rule_value macros.
with

changes as (

    select * from {{ ref('stg_app__rule_changes') }}

),

final as (

    select
        shop,
        scope,
        scope_id,
        rule_name,
        rule_value,
        known_at as valid_from,
        lead(known_at) over (
            partition by shop, scope, scope_id, rule_name
            order by known_at, rule_change_id
        ) as valid_to,
        rule_change_id

    from changes

)

select * from final
