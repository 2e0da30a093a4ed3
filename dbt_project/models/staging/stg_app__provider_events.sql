-- Provider events (delivered, bounced, ...) the storefront received at or before as_of.
with

source as (

    select * from {{ source('app', 'provider_events') }}

),

renamed as (

    select
        id as provider_event_id,
        job_id,
        lane,
        provider,
        event_type,
        provider_message_id,
        recipient,
        occurred_at,
        received_at,
        detail

    from source
    where received_at <= {{ as_of() }}

)

select * from renamed
