-- inventory_levels/update webhooks as inventory observations. Ids come from admin_graphql_api_id
-- ('gid://shopify/InventoryLevel/{location}?inventory_item_id={item}': exact, where the JSON integers may not
-- be), rebuilt as the gids the polled data uses; updated_at (ISO with offset) becomes naive UTC.
with

source as (

    select * from {{ source('app', 'webhook_inbox') }}
    where topic = 'inventory_levels/update'
        and json_valid(payload)

),

parsed as (

    select
        id as webhook_inbox_id,
        shop,
        webhook_id,
        event_id,
        api_version,
        triggered_at,
        received_at,
        json_extract_string(payload, '$.admin_graphql_api_id') as admin_graphql_api_id,
        regexp_extract(
            json_extract_string(payload, '$.admin_graphql_api_id'),
            'InventoryLevel/(\d+)\?inventory_item_id=(\d+)',
            ['location_number', 'item_number']
        ) as level_numbers,
        json_extract_string(payload, '$.location_id') as payload_location_id,
        json_extract_string(payload, '$.inventory_item_id') as payload_inventory_item_id,
        try_cast(json_extract_string(payload, '$.available') as integer) as available,
        json_extract_string(payload, '$.updated_at') as updated_at_text

    from source

),

renamed as (

    select
        webhook_inbox_id,
        shop,
        webhook_id,
        event_id,
        api_version,
        'gid://shopify/InventoryItem/'
            || coalesce(nullif(level_numbers.item_number, ''), payload_inventory_item_id) as inventory_item_id,
        'gid://shopify/Location/'
            || coalesce(nullif(level_numbers.location_number, ''), payload_location_id) as location_id,
        available,
        coalesce({{ iso_to_naive_utc('updated_at_text') }}, triggered_at) as updated_at,
        triggered_at,
        received_at

    from parsed

),

final as (

    select
        webhook_inbox_id,
        shop,
        webhook_id,
        event_id,
        api_version,
        replace(location_id, 'gid://shopify/Location/', 'gid://shopify/InventoryLevel/')
            || '?inventory_item_id=' || replace(inventory_item_id, 'gid://shopify/InventoryItem/', '')
            as inventory_level_id,
        inventory_item_id,
        location_id,
        available,
        updated_at,
        triggered_at,
        received_at

    from renamed
    where updated_at <= {{ as_of() }}
        and inventory_item_id is not null
        and location_id is not null

)

select * from final
