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

{#- The forecast origin for a history ending on the date `data_end`: the var
    forecast_origin's period, else the last complete period (the one holding
    data_end when data_end is its last day, else the one before). -#}
{% macro origin_period(data_end) -%}
    {%- if var('forecast_origin') -%}
        {{ period_start("cast(" ~ sql_string(var('forecast_origin')) ~ " as date)") }}
    {%- else -%}
        case
            when
                {{ period_start(data_end ~ ' + 1') }}
                > {{ period_start(data_end) }}
                then {{ period_start(data_end) }}
            else
                cast(
                    {{ period_start(data_end) }}
                    - {{ period_interval() }} as date
                )
        end
    {%- endif -%}
{%- endmacro %}
