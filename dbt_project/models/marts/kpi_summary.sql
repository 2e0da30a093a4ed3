-- One row per shop: the KPIs of docs/architecture.md over all time up to as_of (distinct viewers over all
-- time, not a sum of daily viewers).
with

activities as (

    select * from {{ ref('int_kpi_activities_unioned') }}

),

shops as (

    select shop, currency_code from {{ ref('stg_shopify__shops') }}
    union
    select distinct shop, null from activities
    where shop not in (select shop from {{ ref('stg_shopify__shops') }})

),

shop_counts as (

    select
        activities.shop,
        {{ kpi_counts('activities') }}

    from activities
    group by activities.shop

),

final as (

    select
        shops.shop,
        shops.currency_code,
        {{ kpi_columns('shop_counts') }}

    from shops
    left join shop_counts on shop_counts.shop = shops.shop

)

select * from final
