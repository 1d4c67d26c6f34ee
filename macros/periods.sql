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

{#- Fewest periods before the first backtest origin: the var, or by default
    the larger of the horizon and half a season (26 for weekly data with the
    default horizon of 13; 18 for monthly data with a horizon of 18). -#}
{% macro min_train_length() -%}
    {{ var('min_train_length')
       or [var('horizon') | int, (var('season_length') | int) // 2] | max }}
{%- endmacro %}
