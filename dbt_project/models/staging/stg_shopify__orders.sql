-- One row per order: its newest version with updated_at at or before as_of (a cancellation is a later version).
with

source as (

    select * from {{ source('shopify', 'orders') }}

),

renamed as (

    select
        shop,
        order_id,
        name as order_name,
        nullif(lower(trim(email)), '') as email,
        created_at as ordered_at,
        updated_at,
        case when cancelled_at <= {{ as_of() }} then cancelled_at end as cancelled_at,
        coalesce(cancelled_at <= {{ as_of() }}, false) as is_cancelled,
        currency_code,
        total_price,
        custom_attributes,
        _ingested_at as ingested_at

    from source
    where updated_at <= {{ as_of() }}
        and created_at <= {{ as_of() }}

),

newest as (

    select *
    from renamed
    qualify row_number() over (
        partition by shop, order_id
        order by updated_at desc, ingested_at desc
    ) = 1

)

select * from newest
