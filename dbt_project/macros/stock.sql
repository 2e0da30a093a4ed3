{#- A variant's stock state from its sellable quantity: the one definition the sellable history uses for a
    step and for the step before it. -#}
{% macro stock_state(can_restock, sellable_quantity, threshold) -%}
    case
        when not coalesce({{ can_restock }}, false) then 'not_restockable'
        when {{ sellable_quantity }} >= {{ threshold }} then 'in_stock'
        else 'out_of_stock'
    end
{%- endmacro %}
