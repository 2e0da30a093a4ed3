-- Delivery attempts started at or before as_of; an outcome that arrived after as_of is not known yet.
with

source as (

    select * from {{ source('app', 'notification_attempts') }}

),

renamed as (

    select
        id as attempt_id,
        job_id,
        attempt_number,
        provider,
        started_at,
        case when finished_at <= {{ as_of() }} then finished_at end as finished_at,
        status_code,
        case when finished_at is null or finished_at <= {{ as_of() }} then outcome end as outcome,
        provider_message_id,
        error_message,
        retry_after_seconds,
        latency_ms

    from source
    where started_at <= {{ as_of() }}

)

select * from renamed
