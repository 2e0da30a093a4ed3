{{
    config(
        materialized='incremental',
        incremental_strategy='append',
        unique_key='webhook_inbox_id',
        on_schema_change='fail'
    )
}}
-- inventory_levels/update, /connect and /disconnect webhooks, parsed once: each run parses only the inbox
-- rows it has not parsed yet (the inbox copy only grows). Ids come from the payload's location_id and
-- inventory_item_id (JSON integers, read exactly as text), never from the number inside
-- admin_graphql_api_id: an InventoryLevel id is opaque. A disconnect carries no updated_at: it happened when
-- Shopify triggered the webhook. A webhook that cannot be used keeps its row with `parse_error` saying why,
-- so it is counted and surfaced (a warn test), never dropped silently.
with

source as (

    select * from {{ source('app', 'webhook_inbox') }}
    where topic in ('inventory_levels/update', 'inventory_levels/connect', 'inventory_levels/disconnect')
    {% if is_incremental() %}
        -- rows below the newest id parsed can still arrive (a late commit): look a little way back
        and id > (select coalesce(max(webhook_inbox_id), 0) - 1000 from {{ this }})
        and id not in (
            select webhook_inbox_id from {{ this }}
            where webhook_inbox_id > (select coalesce(max(webhook_inbox_id), 0) - 1000 from {{ this }})
        )
    {% endif %}

),

parsed as (

    select
        id as webhook_inbox_id,
        shop,
        topic,
        webhook_id,
        event_id,
        triggered_at,
        received_at,
        coalesce(_known_at, received_at) as known_at,
        is_json,
        fields[1] as location_number,
        fields[2] as item_number,
        fields[3] as available_text,
        fields[4] as updated_at_text

    from (
        -- each payload parsed once for all four fields (a path each parsed it four times)
        select
            *,
            case
                when is_json
                    then json_extract_string(payload, ['$.location_id', '$.inventory_item_id', '$.available', '$.updated_at'])
            end as fields
        from (select *, json_valid(payload) as is_json from source) as checked
    ) as extracted

),

renamed as (

    select
        webhook_inbox_id,
        shop,
        topic,
        webhook_id,
        event_id,
        'gid://shopify/InventoryItem/' || item_number as inventory_item_id,
        'gid://shopify/Location/' || location_number as location_id,
        try_cast(available_text as integer) as available,
        topic != 'inventory_levels/disconnect' as is_connected,
        case
            when topic = 'inventory_levels/disconnect' then coalesce(triggered_at, received_at)
            else {{ iso_to_naive_utc('updated_at_text') }}
        end as shopify_updated_at,
        triggered_at,
        received_at,
        known_at,
        case
            when not is_json then 'payload is not JSON'
            when not regexp_full_match(coalesce(item_number, ''), '\d+') then 'no numeric inventory_item_id'
            when not regexp_full_match(coalesce(location_number, ''), '\d+') then 'no numeric location_id'
            when topic != 'inventory_levels/disconnect' and {{ iso_to_naive_utc('updated_at_text') }} is null
                then 'no ISO-8601 updated_at'
            when available_text is not null and try_cast(available_text as integer) is null
                then 'available is not an integer'
        end as parse_error

    from parsed

),

final as (

    select
        webhook_inbox_id,
        shop,
        topic,
        webhook_id,
        event_id,
        inventory_item_id,
        location_id,
        available,
        is_connected,
        -- never later than when we received it (a clock ahead of ours is taken at our instant)
        least(shopify_updated_at, known_at) as updated_at,
        triggered_at,
        received_at,
        known_at,
        parse_error

    from renamed

)

select * from final
