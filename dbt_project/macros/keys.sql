{#-
    restock_event_id: md5 of 'shop|variant_id|restocked_at' with restocked_at as 'YYYY-MM-DD HH:MM:SS'
    (naive UTC), so the same restock always gets the same id, whatever run computes it.
-#}
{% macro restock_event_id(shop, variant_id, restocked_at) -%}
    md5({{ shop }} || '|' || {{ variant_id }} || '|' || strftime({{ restocked_at }}, '%Y-%m-%d %H:%M:%S'))
{%- endmacro %}

{#- target_id: md5 of 'restock_event_id|subscription_id'. -#}
{% macro target_id(restock_event_id, subscription_id) -%}
    md5({{ restock_event_id }} || '|' || cast({{ subscription_id }} as varchar))
{%- endmacro %}

{#- md5 of a text, computed in Jinja: lets unit tests state the expected deterministic ids. -#}
{% macro local_md5(text) -%}
    {{ return(modules.hashlib.md5(text.encode('utf-8')).hexdigest()) }}
{%- endmacro %}

{#- A phone number reduced to + and digits (E.164 as stored by the product; Shopify's may carry spaces). -#}
{% macro normalized_phone(column) -%}
    nullif(regexp_replace(coalesce({{ column }}, ''), '[^0-9+]', '', 'g'), '')
{%- endmacro %}
