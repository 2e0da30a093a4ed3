{#-
    The restock rules in force for a variant at an instant (backinstock/rules.py defines them): the narrowest
    stored override known by then (variant, then product, then shop), else the shop default from the vars.

    rule_joins(alias, shop, product_id, variant_id, at, names) adds one left join per rule and scope to
    int_rule_versions; rule_value(alias, name) is the typed value those joins give (null for
    counted_locations when no override names locations: count the default ones).
-#}

{% macro rule_types() -%}
    {{ return({
        'threshold': 'integer',
        'debounce_minutes': 'integer',
        'cooldown_hours': 'integer',
        'counted_locations': 'varchar[]',
        'batch_multiplier': 'double',
        'batch_interval_minutes': 'integer',
        'release': 'varchar',
    }) }}
{%- endmacro %}

{% macro rule_default(name) -%}
    {%- if name == 'counted_locations' -%}
        cast(null as varchar[])
    {%- elif name == 'release' -%}
        cast('{{ var("release") }}' as varchar)
    {%- else -%}
        cast({{ var(name) }} as {{ rule_types()[name] }})
    {%- endif -%}
{%- endmacro %}

{#- A stored rule value (JSON text) as its type. -#}
{% macro typed_rule_value(json_text, name) -%}
    {%- set type = rule_types()[name] -%}
    {%- if type == 'varchar[]' -%}
        from_json({{ json_text }}, '["VARCHAR"]')
    {%- else -%}
        cast(json_extract_string({{ json_text }}, '$') as {{ type }})
    {%- endif -%}
{%- endmacro %}

{% macro rule_joins(alias, shop, product_id, variant_id, at, names) -%}
    {%- for name in names %}
        {%- for scope, scope_id in [('variant', variant_id), ('product', product_id), ('shop', "''")] %}
            {%- set joined = alias ~ '_' ~ name ~ '_' ~ scope %}
    left join {{ ref('int_rule_versions') }} as {{ joined }}
        on {{ joined }}.shop = {{ shop }}
        and {{ joined }}.rule_name = '{{ name }}'
        and {{ joined }}.scope = '{{ scope }}'
        and {{ joined }}.scope_id = {{ scope_id }}
        and {{ joined }}.valid_from <= {{ at }}
        and ({{ joined }}.valid_to is null or {{ at }} < {{ joined }}.valid_to)
        {%- endfor %}
    {%- endfor %}
{%- endmacro %}

{% macro rule_value(alias, name) -%}
    coalesce(
        {%- for scope in ['variant', 'product', 'shop'] %}
        {{ typed_rule_value(alias ~ '_' ~ name ~ '_' ~ scope ~ '.rule_value', name) }},
        {%- endfor %}
        {{ rule_default(name) }}
    )
{%- endmacro %}
