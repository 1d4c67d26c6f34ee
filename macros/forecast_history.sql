{#- Post-hook of fct_forecast_history. Rows appended before the table had
    frequency, horizon and season_length (an older warehouse: dbt's
    on_schema_change adds the columns, null in those rows) get them from the
    rows themselves, once: the frequency from the gap between the run's
    origin and its first forecast period (1 day, 7 days, or a month), the
    horizon as the run's last step, the season length from that run's rows in
    fct_model_registry (null when it has none). Rows whose frequency cannot be
    told stay null and are never scored (a warn test names them). -#}
{% macro backfill_forecast_history() %}
    {%- if not execute or not is_incremental() -%}{{ return('') }}{%- endif -%}
    {%- set registry = main_table_exists('fct_model_registry') -%}
    update {{ this }} as history
    set
        frequency = runs.frequency,
        horizon = runs.horizon,
        season_length = runs.season_length
    from (
        select
            old.run_id,
            case
                when old.first_gap = 1 then 'day'
                when old.first_gap = 7 then 'week'
                when old.first_gap between 28 and 31 then 'month'
            end as frequency,
            old.horizon,
            {% if registry -%}
                (
                    select max(registry.season_length)
                    from main.fct_model_registry as registry
                    where registry.run_id = old.run_id
                )
            {%- else -%}
                cast(null as integer)
            {%- endif %} as season_length
        from (
            select
                run_id,
                min(period_start - forecast_origin) filter (
                    where step = 1
                ) as first_gap,
                cast(max(step) as integer) as horizon
            from {{ this }}
            where frequency is null
            group by run_id
        ) as old
    ) as runs
    where
        history.run_id = runs.run_id
        and history.frequency is null
        and runs.frequency is not null
{%- endmacro %}
