{#- Collapse consecutive rows of the same `is_in_stock` (per shop and variant, ordered by `ordered_by`) into
    runs: one row per run with its number and its first `ordered_by` as `started_at`. The debounce model
    uses it twice: to cut the history into segments, and to merge segments left side by side. -#}

{% macro state_runs(relation, ordered_by, number_as) -%}
    select
        shop,
        variant_id,
        product_id,
        {{ number_as }},
        is_in_stock,
        min({{ ordered_by }}) as started_at

    from (
        select
            *,
            sum(is_run_start) over (
                partition by shop, variant_id
                order by {{ ordered_by }}
                rows between unbounded preceding and current row
            ) as {{ number_as }}

        from (
            select
                *,
                case
                    when is_in_stock = lag(is_in_stock) over (
                        partition by shop, variant_id order by {{ ordered_by }}
                    ) then 0
                    else 1
                end as is_run_start

            from {{ relation }}
        ) as flagged
    ) as numbered
    group by shop, variant_id, product_id, {{ number_as }}, is_in_stock
{%- endmacro %}
