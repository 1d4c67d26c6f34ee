{#- The one definition of a series key: plant and product, readable. -#}
{% macro series_id(plant_id, product_id) -%}
    concat_ws('|', {{ plant_id }}, {{ product_id }})
{%- endmacro %}
