-- Subscriptions created at or before as_of; an unsubscribe after as_of has not happened yet.
with

source as (

    select * from {{ source('app', 'subscriptions') }}

),

renamed as (

    select
        id as subscription_id,
        shop,
        variant_id,
        product_id,
        channel,
        contact,
        locale,
        status,
        client_id,
        created_at,
        updated_at,
        notified_at,
        -- an unsubscribed row without its instant (never written so by the app) counts from its last update
        case
            when coalesce(unsubscribed_at, case when status = 'unsubscribed' then updated_at end)
                <= {{ as_of() }}
                then coalesce(unsubscribed_at, case when status = 'unsubscribed' then updated_at end)
        end as unsubscribed_at,
        consent_method,
        consent_at

    from source
    where created_at <= {{ as_of() }}

)

select * from renamed
