-- One row per shop. Shops carry no updated_at: keep the newest version ingested at or before as_of (the first
-- one ingested when every version is later, so a replay never loses the shop's currency and time zone).
with

source as (

    select * from {{ source('shopify', 'shops') }}

),

renamed as (

    select
        shop,
        shop_id,
        name as shop_name,
        currency_code,
        iana_timezone,
        _ingested_at as ingested_at,
        -- when the product started watching the shop (its first ingest, if at or before as_of)
        case
            when min(_ingested_at) over (partition by shop) <= {{ as_of() }}
                then min(_ingested_at) over (partition by shop)
        end as first_ingested_at

    from source

),

newest as (

    select *
    from renamed
    qualify row_number() over (
        partition by shop
        order by
            case when ingested_at <= {{ as_of() }} then 0 else 1 end,
            case when ingested_at <= {{ as_of() }} then ingested_at end desc,
            ingested_at
    ) = 1

)

select * from newest
