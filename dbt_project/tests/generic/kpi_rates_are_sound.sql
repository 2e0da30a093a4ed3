{#- The KPI reconciliations of docs/architecture.md on one KPI mart: each funnel step is at most the one
    before it (delivered <= sent <= attempted, opened <= delivered, clicked <= opened, converted <= sent;
    attributed revenue and orders, in either view, <= the totals where the mart has them), every rate is null exactly when its
    denominator is 0 and lies in [0, 1] otherwise (signup rate aside: a signup needs no tracked view). -#}
{% test kpi_rates_are_sound(model) %}
{%- set columns = adapter.get_columns_in_relation(model) | map(attribute='name') | list -%}
select *
from {{ model }}
where not (
    notifications_sent <= notifications_attempted
    and notifications_delivered <= notifications_sent
    and notifications_opened <= notifications_delivered
    and notifications_clicked <= notifications_opened
    and notifications_converted <= notifications_sent
    and notifications_converted_click_only <= notifications_sent
    {%- if 'total_revenue' in columns %}
    and attributed_revenue <= total_revenue
    and attributed_revenue_click_only <= total_revenue
    and attributed_orders <= total_orders
    and attributed_orders_click_only <= total_orders
    {%- endif %}
    {%- for rate, numerator, denominator in kpi_rate_columns() if rate in columns %}
    and ({{ rate }} is null) = ({{ denominator }} = 0)
    {%- if rate != 'signup_rate' %}
    and coalesce({{ rate }} between 0 and 1, true)
    {%- endif %}
    {%- endfor %}
)
{% endtest %}
