-- Subscriptions in effect at or before as_of. A subscription counts from its confirmation (double opt-in):
-- created_at here is the instant it became active (the store's confirmed_at; equal to the signup when the shop
-- asks for no confirmation), requested_at the instant the form was sent. One never confirmed by as_of (still
-- pending, expired, or cancelled before confirming) is no subscription at all: never targeted, never counted.
-- An unsubscribe after as_of has not happened yet.
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
        confirmed_at as created_at,
        created_at as requested_at,
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
    where confirmed_at <= {{ as_of() }}

)

select * from renamed
