with

source as (

    select * from {{ source('app', 'suppressions') }}

),

renamed as (

    select
        id as suppression_id,
        shop,
        channel,
        contact,
        reason as suppression_reason,
        source as suppression_source,
        created_at

    from source
    where created_at <= {{ as_of() }}

)

select * from renamed
