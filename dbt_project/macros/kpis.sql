{#-
    The KPI columns (docs/architecture.md), from int_kpi_activities_unioned rows: kpi_counts aggregates the rows
    in a group (a shop and day, or a shop) as distinct entities per activity and summed amounts; kpi_columns
    turns those counts into the published columns: counts BIGINT (0 when nothing), money DECIMAL(14,2) (0.00
    when nothing), rates DOUBLE (null when the denominator is 0).
-#}

{% macro kpi_counts(activities) -%}
    {%- set counted = [
        ('product_viewers', 'product_viewed'),
        ('signups', 'signup'),
        ('restocks', 'restock'),
        ('notification_jobs', 'notification_job'),
        ('notifications_attempted', 'notification_attempted'),
        ('notifications_sent', 'notification_sent'),
        ('notifications_opened', 'notification_opened'),
        ('notifications_clicked', 'notification_clicked'),
        ('attributed_orders', 'attributed_order'),
        ('total_orders', 'order'),
    ] -%}
    {%- for column, activity in counted %}
    count(distinct {{ activities }}.entity_key) filter (where {{ activities }}.activity = '{{ activity }}')
        as {{ column }},
    {%- endfor %}
    sum({{ activities }}.amount) filter (where {{ activities }}.activity = 'attributed_order') as attributed_revenue,
    sum({{ activities }}.amount) filter (where {{ activities }}.activity = 'order') as total_revenue
{%- endmacro %}

{% macro kpi_columns(counts) -%}
    {%- for column in [
        'product_viewers', 'signups', 'restocks', 'notification_jobs', 'notifications_attempted',
        'notifications_sent', 'notifications_opened', 'notifications_clicked', 'attributed_orders',
    ] %}
    cast(coalesce({{ counts }}.{{ column }}, 0) as bigint) as {{ column }},
    {%- endfor %}
    cast(coalesce({{ counts }}.attributed_revenue, 0) as decimal(14, 2)) as attributed_revenue,
    cast(coalesce({{ counts }}.total_orders, 0) as bigint) as total_orders,
    cast(coalesce({{ counts }}.total_revenue, 0) as decimal(14, 2)) as total_revenue,
    cast(coalesce({{ counts }}.signups, 0) as double) / nullif({{ counts }}.product_viewers, 0) as signup_rate,
    cast(coalesce({{ counts }}.notifications_sent, 0) as double) / nullif({{ counts }}.notifications_attempted, 0)
        as delivery_success_rate,
    cast(coalesce({{ counts }}.attributed_orders, 0) as double) / nullif({{ counts }}.notifications_sent, 0)
        as conversion_rate,
    cast(coalesce({{ counts }}.attributed_revenue, 0) as double)
        / nullif(cast({{ counts }}.total_revenue as double), 0) as revenue_contribution
{%- endmacro %}
