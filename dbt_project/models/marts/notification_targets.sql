{{
    config(
        materialized='incremental',
        unique_key='subscription_id',
        incremental_strategy='append',
        on_schema_change='fail',
        full_refresh=false
    )
}}
-- Frozen targets: who a restock answers. A subscription is answered by exactly one restock, the first restock
-- of its variant with restocked_at >= the subscription's created_at, unless it was unsubscribed at or before
-- restocked_at. Incremental and never fully refreshed: once a subscription has a row, the row never changes;
-- each run adds only subscriptions without one. target_rank orders an event's targets by signup time
-- (1 = earliest); a target added to an event later is ranked after the ones already written.
-- The message context (titles, handle, price, shop name) is frozen with the target.
with

subscriptions as (

    select * from {{ ref('stg_app__subscriptions') }}

),

restocks as (

    select * from {{ ref('restock_events') }}

),

first_restock as (

    select
        subscriptions.*,
        restocks.restock_event_id,
        restocks.product_id as restocked_product_id,
        restocks.restocked_at

    from subscriptions
    inner join restocks
        on restocks.shop = subscriptions.shop
        and restocks.variant_id = subscriptions.variant_id
        and restocks.restocked_at >= subscriptions.created_at
    qualify row_number() over (
        partition by subscriptions.subscription_id
        order by restocks.restocked_at
    ) = 1

),

answered as (

    select *
    from first_restock
    where unsubscribed_at is null
        or unsubscribed_at > restocked_at

),

{% if is_incremental() %}

existing as (

    select subscription_id, restock_event_id, target_rank from {{ this }}

),

new_targets as (

    select *
    from answered
    where subscription_id not in (select subscription_id from existing)

),

ranks_taken as (

    select restock_event_id, max(target_rank) as last_rank
    from existing
    group by restock_event_id

),

{% else %}

new_targets as (

    select * from answered

),

ranks_taken as (

    select
        cast(null as varchar) as restock_event_id,
        cast(null as bigint) as last_rank
    where false

),

{% endif %}

ranked as (

    select
        new_targets.*,
        coalesce(ranks_taken.last_rank, 0) + row_number() over (
            partition by new_targets.restock_event_id
            order by new_targets.created_at, new_targets.subscription_id
        ) as target_rank

    from new_targets
    left join ranks_taken on ranks_taken.restock_event_id = new_targets.restock_event_id

),

variants as (

    select * from {{ ref('variants') }}

),

shops as (

    select * from {{ ref('stg_shopify__shops') }}

),

final as (

    select
        cast({{ target_id('ranked.restock_event_id', 'ranked.subscription_id') }} as varchar) as target_id,
        cast(ranked.restock_event_id as varchar) as restock_event_id,
        ranked.shop,
        ranked.variant_id,
        coalesce(ranked.restocked_product_id, ranked.product_id) as product_id,
        cast(ranked.subscription_id as bigint) as subscription_id,
        ranked.channel,
        ranked.contact,
        ranked.locale,
        ranked.created_at as signed_up_at,
        ranked.restocked_at,
        cast(ranked.target_rank as bigint) as target_rank,
        variants.product_title,
        variants.variant_title,
        variants.product_handle,
        variants.price,
        shops.currency_code,
        shops.shop_name

    from ranked
    left join variants
        on variants.shop = ranked.shop
        and variants.variant_id = ranked.variant_id
    left join shops
        on shops.shop = ranked.shop

)

select * from final
