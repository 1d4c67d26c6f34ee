{#- The forecast of the run before this one: the last run of this run's
    frequency in fct_forecast_history (macro history_runs), one row per
    series and period, with its final forecast. Read as the source
    memory.fct_forecast_history (the model is built from this run's forecast,
    after this one); no rows on a first run, or when the history predates the
    columns that order its runs (frequency, forecast_created_at: the run
    after fills them). -#}
{%- set history = source('memory', 'fct_forecast_history') -%}
{%- set readable = execute
    and main_table_exists('fct_forecast_history')
    and main_column_exists('fct_forecast_history', 'frequency')
    and main_column_exists('fct_forecast_history', 'forecast_created_at') -%}

with

{% if readable -%}
    runs as (

        {{ history_runs(history) }}

    ),

    previous_run as (

        select run_id
        from runs
        where frequency = '{{ frequency() }}'
        qualify row_number() over (order by started_at desc, run_id desc) = 1

    ),

    final as (

        select
            history.run_id as previous_run_id,
            history.series_id,
            history.period_start,
            history.forecast as previous_forecast
        from {{ history }} as history
        inner join previous_run
            on history.run_id = previous_run.run_id

    )
{%- else -%}
    final as (

        select
            cast(null as varchar) as previous_run_id,
            cast(null as varchar) as series_id,
            cast(null as date) as period_start,
            cast(null as double) as previous_forecast
        where false

    )
{%- endif %}

select * from final
