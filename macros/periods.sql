{#- Period arithmetic for the var `frequency` (day | week | month).
    Weeks start on Monday (ISO), months on the 1st. -#}

{% macro frequency() -%}
    {%- set freq = var('frequency') | string | lower -%}
    {%- if freq not in ['day', 'week', 'month'] -%}
        {{ exceptions.raise_compiler_error(
            "var 'frequency' must be one of day, week, month; got '"
            ~ var('frequency') ~ "'") }}
    {%- endif -%}
    {{ return(freq) }}
{%- endmacro %}

{% macro period_start(expr) -%}
    cast(date_trunc('{{ frequency() }}', {{ expr }}) as date)
{%- endmacro %}

{% macro period_interval(n=1) -%}
    interval ({{ n }}) {{ frequency() }}
{%- endmacro %}
