{#-
    The attribution and holdout rules of each shop: the var `shop_rules` ({shop: {rule: value}}, what the
    pipeline passes from each shop's settings) over the project-wide vars. Renders a relation with one row per
    shop named in `shop_rules` (none when it is empty); int_shop_rules_resolved adds the defaults.
-#}

{% macro shop_rule_overrides() -%}
    {%- set overrides = var('shop_rules', {}) or {} -%}
    {%- set columns = [
        ('click_window_hours', 'integer'),
        ('open_window_hours', 'integer'),
        ('sms_window_hours', 'integer'),
        ('attribution_scope', 'varchar'),
        ('holdout_share', 'double'),
        ('holdout_delay_minutes', 'integer'),
    ] -%}
    {%- if overrides %}
    select * from (values
        {%- for shop, rules in overrides.items() %}
        (
            '{{ shop | replace("'", "''") }}'
            {%- for column, data_type in columns -%}
            , cast({{ "'" ~ (rules[column] | string | replace("'", "''")) ~ "'" if column in rules else 'null' }} as {{ data_type }})
            {%- endfor %}
        ){{ "," if not loop.last }}
        {%- endfor %}
    ) as overrides (shop{% for column, _ in columns %}, {{ column }}{% endfor %})
    {%- else %}
    select
        cast(null as varchar) as shop
        {%- for column, data_type in columns %},
        cast(null as {{ data_type }}) as {{ column }}
        {%- endfor %}
    where false
    {%- endif %}
{%- endmacro %}
