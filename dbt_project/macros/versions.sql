{#-
    What a poll taught the product about an entity (a variant, a product, a location) applies from when it was
    learned, except the first version of each entity, which applies from the beginning: before it, the
    product knew nothing else. `version_applies_from` computes that instant per version row;
    `version_known` keeps a version only when it was already known at the instant being evaluated (a level
    learned before its location keeps the location unknown, so history is never rewritten).
-#}

{% macro version_applies_from(entity_columns, known_at='known_at') -%}
    case
        when row_number() over (partition by {{ entity_columns }} order by {{ known_at }}) = 1
            then timestamp '1900-01-01'
        else {{ known_at }}
    end
{%- endmacro %}

{% macro version_known(version, known_by) -%}
    ({{ version }}.known_at is not null and {{ version }}.known_at <= {{ known_by }})
{%- endmacro %}
