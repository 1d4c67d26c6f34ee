{#- The var `levels` as the forecasting engine names its columns: sorted,
    each once, 80 for 80.0 (config.Settings does the same), so lo_80, hi_80,
    lo_99.9, ... Column names built from them are quoted ("lo_99.9"). -#}
{% macro interval_levels() %}
    {%- set raw = var('levels') -%}
    {%- if raw is string -%}
        {%- set parsed = fromyaml(raw) -%}
        {%- set raw = parsed if parsed is not string
            else parsed.replace(';', ',').split(',') -%}
    {%- endif -%}
    {%- if raw is number -%}{%- set raw = [raw] -%}{%- endif -%}
    {%- set numbers = [] -%}
    {%- for level in raw if (level | string).strip() -%}
        {%- do numbers.append(level | float) -%}
    {%- endfor -%}
    {%- set out = [] -%}
    {%- for level in numbers | unique | sort -%}
        {%- do out.append((level | int | string) if level == (level | int)
            else (level | string)) -%}
    {%- endfor -%}
    {{ return(out) }}
{% endmacro %}


{#- "lo_<level>", "hi_<level>" of `relation_alias`, for each level. -#}
{% macro interval_columns(relation_alias) -%}
    {%- for level in interval_levels() %}
        {{ relation_alias }}."lo_{{ level }}",
        {{ relation_alias }}."hi_{{ level }}",
    {%- endfor %}
{%- endmacro %}


{#- "top_<level>" of `relation_alias`, for each level: the calibration's L
    quantile, the upper bound of an interval from zero (var
    intervals_from_zero). -#}
{% macro top_columns(relation_alias) -%}
    {%- for level in interval_levels() %}
        {{ relation_alias }}."top_{{ level }}",
    {%- endfor %}
{%- endmacro %}


{#- lo_80, hi_80, lo_95, hi_95 of `relation_alias`: the fixed interval
    columns of fct_demand_forecast's contract, null for a level the var
    `levels` leaves out (fct_demand_forecast_intervals holds every level). -#}
{% macro contract_interval_columns(relation_alias) -%}
    {%- set levels = interval_levels() -%}
    {%- for level in ['80', '95'] %}
        {%- for side in ['lo', 'hi'] %}
            {%- if level in levels %}
        {{ relation_alias }}."{{ side }}_{{ level }}" as {{ side }}_{{ level }},
            {%- else %}
        cast(null as double) as {{ side }}_{{ level }},
            {%- endif %}
        {%- endfor %}
    {%- endfor %}
{%- endmacro %}


{#- "lo_<level>", "hi_<level>" for each level of the var levels, from the
    long rows of fct_demand_forecast_intervals (an aggregate: group by the
    other columns). -#}
{% macro interval_pivot() -%}
    {%- for level in interval_levels() %}
        max(lo) filter (where interval_level = {{ level }}) as "lo_{{ level }}",
        max(hi) filter (where interval_level = {{ level }}) as "hi_{{ level }}",
    {%- endfor %}
{%- endmacro %}
