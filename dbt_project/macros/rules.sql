{#- The instant every model decides as of, and the rule values, all from dbt vars (see dbt_project.yml). -#}

{% macro as_of() -%}
    cast('{{ var("as_of") }}' as timestamp)
{%- endmacro %}

{% macro minutes_interval(minutes) -%}
    to_minutes(cast({{ minutes }} as bigint))
{%- endmacro %}

{% macro hours_interval(hours) -%}
    to_hours(cast({{ hours }} as bigint))
{%- endmacro %}
