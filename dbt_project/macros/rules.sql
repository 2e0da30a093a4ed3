{#- The instant every model decides as of: the var `as_of` when given (unit tests, manual runs), else
    BACKINSTOCK_AS_OF, which the pipeline sets each cycle, else the run's start. The environment is read
    only when executing, never while parsing, so a new as_of each cycle keeps dbt's partial parse valid
    (a changed var, or an environment variable seen by the parser, makes dbt re-parse files). -#}

{% macro as_of() -%}
    {%- set run_start = run_started_at.strftime("%Y-%m-%d %H:%M:%S") -%}
    {%- set from_environment = env_var("BACKINSTOCK_AS_OF", run_start) if execute else run_start -%}
    cast('{{ var("as_of", from_environment) }}' as timestamp)
{%- endmacro %}

{% macro minutes_interval(minutes) -%}
    to_minutes(cast({{ minutes }} as bigint))
{%- endmacro %}

{% macro hours_interval(hours) -%}
    to_hours(cast({{ hours }} as bigint))
{%- endmacro %}
