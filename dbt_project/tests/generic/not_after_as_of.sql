{#- Nothing later than the `as_of` var leaks into a model: a replay at an earlier as_of gives the earlier answer. -#}
{% test not_after_as_of(model, column_name) %}
select {{ column_name }}
from {{ model }}
where {{ column_name }} > {{ as_of() }}
{% endtest %}
