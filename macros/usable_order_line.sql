{#- The one rule for which order lines make up demand: not an exact
    duplicate, every key and value present, dated before the first forecast
    period. mon_orders__excluded counts the rest by reason. -#}
{% macro usable_order_line(orders='orders', context='context') -%}
    not {{ orders }}.is_duplicate
    and {{ orders }}.plant_id is not null
    and {{ orders }}.product_id is not null
    and {{ orders }}.order_date is not null
    and {{ orders }}.quantity is not null
    and {{ orders }}.order_date < {{ context }}.forecast_start
{%- endmacro %}
