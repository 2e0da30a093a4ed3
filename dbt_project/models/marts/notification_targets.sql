{{
    config(
        materialized='incremental',
        unique_key='subscription_id',
        incremental_strategy='append',
        on_schema_change='fail',
        full_refresh=(none if var('rebuild_decisions') else false)
    )
}}
-- Frozen targets: who a fired restock answers. A subscription (from its confirmation: stg_app__subscriptions)
-- is answered by exactly one restock, the first fired restock of its variant at or after its signup, unless it
-- was unsubscribed at or before that restock. Appended when decided and never changed: each run adds only
-- subscriptions without a row whose answering restock has been decided. target_rank orders a restock's
-- targets by signup (1 = earliest); a target added to a restock later (a signup the store committed late)
-- is ranked after the ones already written. The message context (titles, handle, price, shop name) is the
-- catalog as the product knew it when the restock was decided.
with

subscriptions as (

    select * from {{ ref('stg_app__subscriptions') }}
    {% if is_incremental() %}
    where subscription_id not in (select subscription_id from {{ this }})
    {% endif %}

),

restocks as (

    select restocks.*
    from {{ ref('restock_events') }} as restocks
    {% if is_incremental() %}
    -- only the restocks that can answer a subscription without a target (its variant's, from its signup and
    -- before it unsubscribed): the first one after a signup is among them whenever it answers it, so the
    -- answers are the same and the ASOF join does not sort every restock ever fired
    semi join subscriptions
        on subscriptions.shop = restocks.shop
        and subscriptions.variant_id = restocks.variant_id
        and restocks.restocked_at >= subscriptions.created_at
        and (subscriptions.unsubscribed_at is null or restocks.restocked_at < subscriptions.unsubscribed_at)
    {% endif %}
    where restocks.decided_at <= {{ as_of() }}

),

first_restock as (

    select
        subscriptions.*,
        restocks.restock_event_id,
        restocks.product_id as restocked_product_id,
        restocks.restocked_at,
        restocks.decided_at

    from subscriptions
    asof inner join restocks
        on restocks.shop = subscriptions.shop
        and restocks.variant_id = subscriptions.variant_id
        and restocks.restocked_at >= subscriptions.created_at

),

answered as (

    select *
    from first_restock
    where unsubscribed_at is null
        or unsubscribed_at > restocked_at

),

{% if is_incremental() %}

ranks_taken as (

    select restock_event_id, max(target_rank) as last_rank
    from {{ this }}
    where restock_event_id in (select restock_event_id from answered)
    group by restock_event_id

),

{% else %}

ranks_taken as (

    select
        cast(null as varchar) as restock_event_id,
        cast(null as bigint) as last_rank
    where false

),

{% endif %}

ranked as (

    select
        answered.*,
        coalesce(ranks_taken.last_rank, 0) + row_number() over (
            partition by answered.restock_event_id
            order by answered.created_at, answered.subscription_id
        ) as target_rank

    from answered
    left join ranks_taken on ranks_taken.restock_event_id = answered.restock_event_id

),

variant_versions as (

    select * from {{ ref('stg_shopify__variant_versions') }}

),

product_versions as (

    select * from {{ ref('stg_shopify__product_versions') }}

),

shops as (

    select * from {{ ref('stg_shopify__shops') }}

),

with_variant as (

    select ranked.*, variant_versions.variant_title, variant_versions.price
    from ranked
    asof left join variant_versions
        on variant_versions.shop = ranked.shop
        and variant_versions.variant_id = ranked.variant_id
        and variant_versions.known_at <= ranked.decided_at

),

with_product as (

    select with_variant.*, product_versions.product_title, product_versions.product_handle
    from with_variant
    asof left join product_versions
        on product_versions.shop = with_variant.shop
        and product_versions.product_id = coalesce(with_variant.restocked_product_id, with_variant.product_id)
        and product_versions.known_at <= with_variant.decided_at

),

final as (

    select
        cast({{ target_id('with_product.restock_event_id', 'with_product.subscription_id') }} as varchar) as target_id,
        cast(with_product.restock_event_id as varchar) as restock_event_id,
        with_product.shop,
        with_product.variant_id,
        coalesce(with_product.restocked_product_id, with_product.product_id) as product_id,
        cast(with_product.subscription_id as bigint) as subscription_id,
        with_product.channel,
        with_product.contact,
        with_product.locale,
        with_product.created_at as signed_up_at,
        with_product.restocked_at,
        with_product.decided_at,
        cast(with_product.target_rank as bigint) as target_rank,
        with_product.product_title,
        with_product.variant_title,
        with_product.product_handle,
        cast(with_product.price as decimal(14, 2)) as price,
        shops.currency_code,
        shops.shop_name

    from with_product
    left join shops
        on shops.shop = with_product.shop

)

select * from final
