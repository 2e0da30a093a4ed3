{#-
    The pieces of the attribution rule (docs/architecture.md, "Attribution") that last-touch attribution and
    the holdout's conversions share: how an order reaches a job (its contacts, the click tokens it carries)
    and which of its lines are in a notification's scope.
-#}

{#- One row per (shop, order_id, contact): the order's email, its customer's email, its phone and its
    customer's phone, as stg_shopify__orders normalised them. -#}
{% macro order_contacts(orders) -%}
    select distinct shop, order_id, contact
    from {{ orders }}
    cross join lateral (
        select unnest([{{ orders }}.email, {{ orders }}.customer_email, {{ orders }}.phone,
            {{ orders }}.customer_phone]) as contact
    ) as contacts
    where contact is not null
{%- endmacro %}

{#- One row per (shop, order_id, job_id) for each verified click token the order carries. -#}
{% macro order_click_jobs(orders) -%}
    select distinct shop, order_id, unnest(click_job_ids) as job_id
    from {{ orders }}
{%- endmacro %}

{#- A line is in a notification's scope: the notified variant (same_variant), a variant of the notified product
    (same_product, the default), or any line (any). `scope` is an SQL expression, null meaning the default. -#}
{% macro in_attribution_scope(scope, line_variant, line_product, notified_variant, notified_product) -%}
    case coalesce({{ scope }}, '{{ var("attribution_scope") }}')
        when 'any' then true
        when 'same_variant' then {{ line_variant }} = {{ notified_variant }}
        else {{ line_product }} = {{ notified_product }}
    end
{%- endmacro %}
