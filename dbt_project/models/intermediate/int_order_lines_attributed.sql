-- Line-level last-touch attribution (docs/architecture.md, "Attribution"), in both views: one row per
-- credited line of a counting order and view ('last_touch': every touch; 'click_only': clicks only).
-- An order reaches a touch by contact (its email, customer email, phone or customer phone equals the job's
-- contact) or by a click token it carries (clicks of that job); the touch must be eligible (ordered inside
-- its window, both ends inclusive) and the line in its scope. The latest eligible touch wins; ties: click,
-- open, delivery, then the higher job id.
with

lines as (

    select * from {{ ref('int_order_lines_netted') }}
    where is_counted

),

orders as (

    select * from {{ ref('stg_shopify__orders') }}

),

touches as (

    select * from {{ ref('int_notification_touches_unioned') }}

),

rules as (

    select * from {{ ref('int_shop_rules_resolved') }}

),

order_contacts as (

    {{ order_contacts('orders') }}

),

order_tokens as (

    {{ order_click_jobs('orders') }}

),

reached as (

    select order_contacts.shop, order_contacts.order_id, touches.* exclude (shop), 'contact' as matched_by
    from order_contacts
    inner join touches
        on touches.shop = order_contacts.shop
        and touches.contact_key = order_contacts.contact

    union all

    select order_tokens.shop, order_tokens.order_id, touches.* exclude (shop), 'click_token' as matched_by
    from order_tokens
    inner join touches
        on touches.shop = order_tokens.shop
        and touches.job_id = order_tokens.job_id
        and touches.touch_type = 'click'

),

eligible as (

    select
        lines.shop,
        lines.order_id,
        lines.line_item_id,
        lines.variant_id,
        lines.product_id,
        lines.ordered_at,
        lines.net_revenue,
        lines.currency_code,
        reached.job_id,
        reached.subscription_id,
        reached.restock_event_id,
        reached.channel,
        reached.variant_id as notified_variant_id,
        reached.product_id as notified_product_id,
        reached.touch_type,
        reached.touched_at,
        reached.matched_by,
        case reached.touch_type when 'click' then 3 when 'open' then 2 else 1 end as touch_rank

    from lines
    inner join reached
        on reached.shop = lines.shop
        and reached.order_id = lines.order_id
    left join rules on rules.shop = lines.shop
    where lines.ordered_at >= reached.touched_at
        and lines.ordered_at <= reached.window_ends_at
        and {{ in_attribution_scope(
            'rules.attribution_scope', 'lines.variant_id', 'lines.product_id', 'reached.variant_id',
            'reached.product_id'
        ) }}

),

last_touch as (

    select 'last_touch' as attribution_view, *
    from eligible
    qualify row_number() over (
        partition by shop, order_id, line_item_id
        order by touched_at desc, touch_rank desc, job_id desc, matched_by
    ) = 1

),

click_only as (

    select 'click_only' as attribution_view, *
    from eligible
    where touch_type = 'click'
    qualify row_number() over (
        partition by shop, order_id, line_item_id
        order by touched_at desc, job_id desc, matched_by
    ) = 1

),

final as (

    select * exclude (touch_rank) from last_touch
    union all
    select * exclude (touch_rank) from click_only

)

select * from final
