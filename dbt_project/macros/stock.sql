{#- A variant's stock state from its sellable quantity: the one definition the sellable history uses for a
    step and for the step before it. -#}
{% macro stock_state(can_restock, sellable_quantity, threshold) -%}
    case
        when not coalesce({{ can_restock }}, false) then 'not_restockable'
        when {{ sellable_quantity }} >= {{ threshold }} then 'in_stock'
        else 'out_of_stock'
    end
{%- endmacro %}

{% macro processed_through_seq() -%}
    {#- the last fact (fact_seq) an incremental model of the stock history has processed: its rows carry
        batch_fact_seq, the newest fact of the run that wrote them; 0 before its first run -#}
    {%- if is_incremental() -%}
    select coalesce(max(batch_fact_seq), 0) as through_seq from {{ this }}
    {%- else -%}
    select cast(0 as bigint) as through_seq
    {%- endif -%}
{%- endmacro %}
