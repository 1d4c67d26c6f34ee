{#- The one definition of a series key: plant and product, readable, and
    never the same for two different pairs: a '|' or '\' inside an id is
    escaped with a backslash (chr(92)), so 'A|B' + 'C' and 'A' + 'B|C' stay apart. -#}
{% macro series_id(plant_id, product_id) -%}
    concat_ws(
        '|',
        {{ escape_key_part(plant_id) }},
        {{ escape_key_part(product_id) }}
    )
{%- endmacro %}

{% macro escape_key_part(expr) -%}
    replace(
        replace({{ expr }}, chr(92), chr(92) || chr(92)), '|', chr(92) || '|'
    )
{%- endmacro %}
