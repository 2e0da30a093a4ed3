{#- No two rows share the same values in all of `combination_of_columns`. With `new_rows` (a condition, with
    __checked_since__: macros/checks.sql), only the keys of those rows are looked up, in the whole model. -#}
{% test unique_combination_of_columns(model, combination_of_columns, new_rows=none) %}
{%- set columns = combination_of_columns | join(', ') %}
select {{ columns }}, count(*) as rows_sharing_them
from {{ model }}
{%- if new_rows %}
semi join (select distinct {{ columns }} from {{ model }} where {{ with_checked_since(new_rows) }}) as new_keys
    using ({{ columns }})
{%- endif %}
group by {{ columns }}
having count(*) > 1
{% endtest %}
