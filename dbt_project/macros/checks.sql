{#-
    What a cycle's data tests check. A big append-only model is checked where this cycle can have broken it:
    the rows learned or decided since checked_since(), not its whole history, so the tests' cost follows the
    delta. checked_since() is as_of minus var `checked_hours` (24: a day of cycles, so a cycle that comes late
    still checks what the one before it wrote); a full refresh, or var `checked_since` (a timestamp, e.g.
    '1900-01-01' for the whole tables), checks from there instead.

    A test names its recent rows with the placeholder __checked_since__: in its `where` config (dbt filters
    the model with it, on both sides of the test: sound where a duplicate would carry the same instant as
    its original, a fact re-appended with its known_at) or in the `new_rows` argument of
    unique_combination_of_columns (the new rows' keys are looked up in the whole model: a restock decided
    twice carries two decision instants). Placeholders, not Jinja, because YAML is rendered while parsing
    and as_of is only read when executing (macros/rules.sql).
-#}

{% macro checked_since() -%}
    {%- if flags.FULL_REFRESH -%}
        timestamp '1900-01-01'
    {%- elif var('checked_since', none) is not none -%}
        cast('{{ var("checked_since") }}' as timestamp)
    {%- else -%}
        ({{ as_of() }} - {{ hours_interval(var('checked_hours')) }})
    {%- endif -%}
{%- endmacro %}

{% macro with_checked_since(condition) -%}
    {{- condition | replace('__checked_since__', checked_since()) -}}
{%- endmacro %}

{#- dbt's own, with the placeholder filled in. -#}
{% macro get_where_subquery(relation) -%}
    {%- set where = config.get('where', '') -%}
    {%- if where -%}
        {%- do return('(select * from ' ~ relation ~ ' where ' ~ with_checked_since(where) ~ ') dbt_subquery') -%}
    {%- else -%}
        {%- do return(relation) -%}
    {%- endif -%}
{%- endmacro %}
