-- A person's release of the targets a manual-release product holds, known at or before as_of.
with

source as (

    select * from {{ source('app', 'manual_releases') }}

),

renamed as (

    select
        id as manual_release_id,
        shop,
        product_id,
        released_at,
        released_by,
        reason,
        coalesce(_known_at, released_at) as known_at

    from source
    where coalesce(_known_at, released_at) <= {{ as_of() }}

)

select * from renamed
