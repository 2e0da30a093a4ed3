-- Notification jobs created at or before as_of; a send after as_of has not happened yet.
with

source as (

    select * from {{ source('app', 'notification_jobs') }}

),

renamed as (

    select
        id as job_id,
        shop,
        restock_event_id,
        subscription_id,
        variant_id,
        json_extract_string(context, '$.product_id') as product_id,
        channel,
        contact,
        locale,
        status,
        priority,
        due_at,
        attempt_count,
        provider_message_id,
        created_at,
        updated_at,
        case when sent_at <= {{ as_of() }} then sent_at end as sent_at

    from source
    where created_at <= {{ as_of() }}

)

select * from renamed
