-- One row per order: its newest version with updated_at at or before as_of (cancellations and refunds are
-- later versions). Money is in shop currency (Shopify's shopMoney); contacts are normalised for matching
-- (emails lower-cased and trimmed, phones reduced to + and digits).
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
        nullif(lower(trim(customer_email)), '') as customer_email,
        {{ normalized_phone('phone') }} as phone,
        {{ normalized_phone('customer_phone') }} as customer_phone,
        customer_id,
        created_at as ordered_at,
        updated_at,
        case when cancelled_at <= {{ as_of() }} then cancelled_at end as cancelled_at,
        coalesce(cancelled_at <= {{ as_of() }}, false) as is_cancelled,
        coalesce(is_test, false) as is_test,
        currency_code,
        presentment_currency_code,
        total_price,
        total_price_presentment,
        current_total_price,
        custom_attributes,
        landing_pages,
        coalesce(try_cast(click_job_ids as bigint[]), cast([] as bigint[])) as click_job_ids,
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
