-- Storefront events (product views from the pixel, opens and clicks of notifications) up to as_of.
with

source as (

    select * from {{ source('app', 'tracking_events') }}

),

renamed as (

    select
        id as tracking_event_id,
        shop,
        event_type,
        occurred_at,
        job_id,
        variant_id,
        product_id,
        client_id,
        url,
        user_agent

    from source
    where occurred_at <= {{ as_of() }}

)

select * from renamed
