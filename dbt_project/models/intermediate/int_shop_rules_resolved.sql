-- One row per shop with the attribution and holdout rules it runs under: its own values (var `shop_rules`)
-- where it has them, else the project-wide vars (dbt_project.yml).
with

overrides as (

    {{ shop_rule_overrides() }}

),

shops as (

    select shop from {{ ref('stg_shopify__shops') }}
    union
    select shop from overrides

),

final as (

    select
        shops.shop,
        coalesce(overrides.click_window_hours, {{ var('click_window_hours') }}) as click_window_hours,
        coalesce(overrides.open_window_hours, {{ var('open_window_hours') }}) as open_window_hours,
        coalesce(overrides.sms_window_hours, {{ var('sms_window_hours') }}) as sms_window_hours,
        coalesce(overrides.attribution_scope, '{{ var("attribution_scope") }}') as attribution_scope,
        coalesce(overrides.holdout_share, {{ var('holdout_share') }}) as holdout_share,
        coalesce(overrides.holdout_delay_minutes, {{ var('holdout_delay_minutes') }}) as holdout_delay_minutes

    from shops
    left join overrides on overrides.shop = shops.shop

)

select * from final
