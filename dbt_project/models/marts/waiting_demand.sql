-- Waiting demand (docs/architecture.md, "Waiting demand"): what to reorder first. One row per variant that is
-- sold out as of as_of and has at least one subscriber waiting for it, ranked per shop by waiting
-- subscribers, then their value at the current price, then the oldest signup. Beside it, how the product's
-- past restocks converted (all its variants), so a merchant can tell waiting that buys from waiting that
-- does not.
--
-- Waiting: a subscription in effect at as_of (confirmed, not unsubscribed) that no restock has answered yet
-- (no target decided by as_of). Sold out: the variant's latest stock segment known at as_of is out_of_stock
-- (below the threshold); a variant that cannot restock (untracked, CONTINUE, product not active) is not sold
-- out, and one whose stock was never read is not known to be.
with

subscriptions as (

    select * from {{ ref('stg_app__subscriptions') }}
    where unsubscribed_at is null

),

answered as (

    select subscription_id from {{ ref('notification_targets') }}
    where decided_at <= {{ as_of() }}  -- targets are appended: a replay reads those decided by then

),

waiting as (

    select
        subscriptions.shop,
        subscriptions.variant_id,
        count(*) as waiting_subscribers,
        count(*) filter (where subscriptions.channel = 'email') as waiting_email_subscribers,
        count(*) filter (where subscriptions.channel = 'sms') as waiting_sms_subscribers,
        min(subscriptions.created_at) as oldest_signup_at,
        max(subscriptions.created_at) as newest_signup_at

    from subscriptions
    anti join answered on answered.subscription_id = subscriptions.subscription_id
    group by subscriptions.shop, subscriptions.variant_id

),

stock_now as (

    -- each variant's latest segment on its timeline among those the product had learned by as_of
    select
        shop,
        variant_id,
        arg_max(stock_state, struct_pack(started_at, start_fact_seq)) as stock_state,
        arg_max(started_at, struct_pack(started_at, start_fact_seq)) as state_since

    from {{ ref('int_stock_segments') }}
    where start_known_at <= {{ as_of() }}
        and variant_id is not null
    group by shop, variant_id

),

catalog as (

    select * from {{ ref('variants') }}

),

shops as (

    select shop, currency_code from {{ ref('stg_shopify__shops') }}

),

past_restocks as (

    select
        shop,
        product_id,
        count(*) as past_restocks,
        max(restocked_at) as last_restocked_at,
        cast(sum(notifications_sent) as bigint) as past_notifications_sent,
        cast(sum(notifications_converted) as bigint) as past_notifications_converted,
        sum(attributed_revenue) as past_attributed_revenue

    from {{ ref('kpi_restock_events') }}
    where restocked_at <= {{ as_of() }}
    group by shop, product_id

),

sold_out as (

    select
        waiting.*,
        stock_now.state_since as sold_out_since,
        catalog.product_id,
        catalog.product_title,
        catalog.variant_title,
        catalog.sku,
        catalog.price,
        shops.currency_code

    from waiting
    inner join stock_now
        on stock_now.shop = waiting.shop
        and stock_now.variant_id = waiting.variant_id
    left join catalog
        on catalog.shop = waiting.shop
        and catalog.variant_id = waiting.variant_id
    left join shops on shops.shop = waiting.shop
    where stock_now.stock_state = 'out_of_stock'

),

final as (

    select
        sold_out.shop,
        sold_out.variant_id,
        sold_out.product_id,
        sold_out.product_title,
        sold_out.variant_title,
        sold_out.sku,
        cast(
            row_number() over (
                partition by sold_out.shop
                order by
                    sold_out.waiting_subscribers desc,
                    sold_out.waiting_subscribers * sold_out.price desc nulls last,
                    sold_out.oldest_signup_at,
                    sold_out.variant_id
            ) as bigint
        ) as demand_rank,
        sold_out.waiting_subscribers,
        sold_out.waiting_email_subscribers,
        sold_out.waiting_sms_subscribers,
        sold_out.price,
        cast(sold_out.waiting_subscribers * sold_out.price as decimal(14, 2)) as waiting_value,
        sold_out.currency_code,
        sold_out.oldest_signup_at,
        sold_out.newest_signup_at,
        date_diff('second', sold_out.oldest_signup_at, {{ as_of() }}) / 86400.0 as oldest_signup_age_days,
        sold_out.sold_out_since,
        coalesce(past_restocks.past_restocks, 0) as product_past_restocks,
        past_restocks.last_restocked_at as product_last_restocked_at,
        coalesce(past_restocks.past_notifications_sent, 0) as product_past_notifications_sent,
        coalesce(past_restocks.past_notifications_converted, 0) as product_past_notifications_converted,
        past_restocks.past_notifications_converted
            / nullif(past_restocks.past_notifications_sent, 0) as product_past_conversion_rate,
        cast(coalesce(past_restocks.past_attributed_revenue, 0) as decimal(14, 2))
            as product_past_attributed_revenue,
        {{ as_of() }} as as_of

    from sold_out
    left join past_restocks
        on past_restocks.shop = sold_out.shop
        and past_restocks.product_id = sold_out.product_id

)

select * from final
