{#-
    The KPI columns (docs/architecture.md, "KPIs"), from int_kpi_activities_unioned rows: kpi_counts
    aggregates the rows of a group (a shop and day, a variant and day, a restock event, ...) as distinct
    entities per activity and summed amounts; kpi_columns turns those into the published columns: counts
    BIGINT (0 when nothing), money DECIMAL(14,2) (0.00 when nothing), rates DOUBLE (null when the denominator
    is 0). kpi_rate_columns lists every rate with its numerator and denominator, for the tests that check them.
-#}

{% macro kpi_count_columns() -%}
    {{ return([
        ('product_viewers', 'product_viewed'),
        ('variant_viewers', 'variant_viewed'),
        ('signups', 'signup'),
        ('restocks', 'restock'),
        ('notification_jobs', 'notification_job'),
        ('notifications_attempted', 'notification_attempted'),
        ('notifications_sent', 'notification_sent'),
        ('notifications_delivered', 'notification_delivered'),
        ('notifications_opened', 'notification_opened'),
        ('notifications_clicked', 'notification_clicked'),
        ('notifications_converted', 'notification_converted'),
        ('attributed_orders', 'attributed_order'),
        ('total_orders', 'order'),
        ('notifications_converted_click_only', 'notification_converted_click_only'),
        ('attributed_orders_click_only', 'attributed_order_click_only'),
    ]) }}
{%- endmacro %}

{% macro kpi_money_columns() -%}
    {{ return([
        ('attributed_revenue', 'attributed_order'),
        ('total_revenue', 'order'),
        ('attributed_revenue_click_only', 'attributed_order_click_only'),
    ]) }}
{%- endmacro %}

{% macro kpi_rate_columns() -%}
    {{ return([
        ('signup_rate', 'signups', 'variant_viewers'),
        ('delivery_success_rate', 'notifications_delivered', 'notifications_attempted'),
        ('open_rate', 'notifications_opened', 'notifications_delivered'),
        ('click_rate', 'notifications_clicked', 'notifications_delivered'),
        ('conversion_rate', 'notifications_converted', 'notifications_sent'),
        ('revenue_contribution', 'attributed_revenue', 'total_revenue'),
        ('conversion_rate_click_only', 'notifications_converted_click_only', 'notifications_sent'),
        ('revenue_contribution_click_only', 'attributed_revenue_click_only', 'total_revenue'),
    ]) }}
{%- endmacro %}

{% macro kpi_counts(activities) -%}
    {%- for column, activity in kpi_count_columns() %}
    count(distinct {{ activities }}.entity_key) filter (where {{ activities }}.activity = '{{ activity }}')
        as {{ column }},
    {%- endfor %}
    {%- for column, activity in kpi_money_columns() %}
    sum({{ activities }}.amount) filter (where {{ activities }}.activity = '{{ activity }}') as {{ column }}
        {{- "," if not loop.last }}
    {%- endfor %}
{%- endmacro %}

{% macro kpi_columns(counts) -%}
    {%- for column, _ in kpi_count_columns() %}
    cast(coalesce({{ counts }}.{{ column }}, 0) as bigint) as {{ column }},
    {%- endfor %}
    {%- for column, _ in kpi_money_columns() %}
    cast(coalesce({{ counts }}.{{ column }}, 0) as decimal(14, 2)) as {{ column }},
    {%- endfor %}
    {%- for column, numerator, denominator in kpi_rate_columns() %}
    cast(coalesce({{ counts }}.{{ numerator }}, 0) as double)
        / nullif(cast({{ counts }}.{{ denominator }} as double), 0) as {{ column }}
        {{- "," if not loop.last }}
    {%- endfor %}
{%- endmacro %}

{#- A mart of the KPIs per shop, day and `dimensions` (columns of int_kpi_activities_unioned): one row per
    group with any activity. -#}
{% macro kpis_per_day_and(dimensions) -%}
with

activities as (

    select * from {{ ref('int_kpi_activities_unioned') }}

),

shops as (

    select shop, currency_code from {{ ref('stg_shopify__shops') }}

),

counts as (

    select
        activities.shop,
        activities.activity_date,
        {%- for dimension in dimensions %}
        activities.{{ dimension }},
        {%- endfor %}
        {{ kpi_counts('activities') }}

    from activities
    group by activities.shop, activities.activity_date
        {%- for dimension in dimensions %}, activities.{{ dimension }}{% endfor %}

),

final as (

    select
        counts.shop,
        counts.activity_date as kpi_date,
        {%- for dimension in dimensions %}
        counts.{{ dimension }},
        {%- endfor %}
        shops.currency_code,
        {{ kpi_columns('counts') }}

    from counts
    left join shops on shops.shop = counts.shop

)

select * from final
{%- endmacro %}
