{#- lo_<level>, hi_<level> for each level of the var `levels`. -#}
{% macro interval_columns(relation_alias) -%}
    {%- for level in var('levels') %}
        {{ relation_alias }}.lo_{{ level }},
        {{ relation_alias }}.hi_{{ level }},
    {%- endfor %}
{%- endmacro %}
