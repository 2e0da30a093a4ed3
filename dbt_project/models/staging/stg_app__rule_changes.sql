-- Every set and clear of a rule override, known at or before as_of (a clear has a null value). The value is
-- the stored JSON text; int_rule_versions types it per rule.
with

source as (

    select * from {{ source('app', 'rule_changes') }}

),

renamed as (

    select
        id as rule_change_id,
        shop,
        scope,
        scope_id,
        name as rule_name,
        cast(value as varchar) as rule_value,
        changed_at,
        changed_by,
        coalesce(_known_at, changed_at) as known_at

    from source
    where coalesce(_known_at, changed_at) <= {{ as_of() }}

)

select * from renamed
