{#-
    95 % confidence intervals for the holdout's lift (docs/architecture.md, "Incrementality"). Wilson's score
    interval for a proportion of `successes` out of `trials`, and Newcombe's hybrid score interval for the
    difference of two proportions built from the two Wilson intervals (Newcombe 1998, method 10). Null when
    a group has no trials. Arguments are SQL expressions.
-#}

{% macro z95() -%}1.959963984540054{%- endmacro %}

{% macro wilson_bound(successes, trials, sign) -%}
    case when {{ trials }} > 0 then (
        cast({{ successes }} as double) / {{ trials }} + {{ z95() }}^2 / (2.0 * {{ trials }})
        {{ sign }} {{ z95() }} * sqrt(
            (cast({{ successes }} as double) / {{ trials }}) * (1 - cast({{ successes }} as double) / {{ trials }})
                / {{ trials }}
            + {{ z95() }}^2 / (4.0 * {{ trials }} * {{ trials }})
        )
    ) / (1 + {{ z95() }}^2 / {{ trials }}) end
{%- endmacro %}

{#- `bound` is 'low' or 'high': the bound of p1 - p2 (group 1 minus group 2). -#}
{% macro newcombe_bound(successes_1, trials_1, successes_2, trials_2, bound) -%}
    {%- set p1 = '(cast(' ~ successes_1 ~ ' as double) / nullif(' ~ trials_1 ~ ', 0))' -%}
    {%- set p2 = '(cast(' ~ successes_2 ~ ' as double) / nullif(' ~ trials_2 ~ ', 0))' -%}
    {%- if bound == 'low' -%}
    {{ p1 }} - {{ p2 }} - sqrt(
        ({{ p1 }} - {{ wilson_bound(successes_1, trials_1, '-') }})^2
        + ({{ wilson_bound(successes_2, trials_2, '+') }} - {{ p2 }})^2
    )
    {%- else -%}
    {{ p1 }} - {{ p2 }} + sqrt(
        ({{ wilson_bound(successes_1, trials_1, '+') }} - {{ p1 }})^2
        + ({{ p2 }} - {{ wilson_bound(successes_2, trials_2, '-') }})^2
    )
    {%- endif -%}
{%- endmacro %}
