{#- Source freshness measured on the run's own clock: the newest `column_name` is no older than
    `max_age_hours` before as_of (simulated or replayed runs compare with their as_of, not the wall clock).
    An empty table is stale too. -#}
{% test fresh_as_of(model, column_name, max_age_hours) %}
select max({{ column_name }}) as newest_known
from {{ model }}
where {{ column_name }} <= {{ as_of() }}
having max({{ column_name }}) is null
    or max({{ column_name }}) < {{ as_of() }} - {{ hours_interval(max_age_hours) }}
{% endtest %}
