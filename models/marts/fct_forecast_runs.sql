{#- Every run in fct_forecast_history, one row each, in the order they ran:
    the run before it of the same frequency (previous_run_id), whether it is
    the live run of its forecast origin (the latest: a rebuild at the same
    origin supersedes the run before it), and whether its forecast repeats
    the previous run's in every row (a rebuild with nothing new). Rebuilt
    from the history each run. -#}

with

history as (

    select * from {{ ref('fct_forecast_history') }}

),

runs as (

    {{ history_runs(ref('fct_forecast_history')) }}

),

changed as (

    -- per run, the rows whose forecast or model differ from the previous
    -- run's for the same series and period, or that it has no row for
    select
        runs.run_id,
        count(*) filter (
            where
            previous.forecast is distinct from history.forecast
            or previous.model_name is distinct from history.model_name
        ) as n_changed
    from runs
    inner join history
        on runs.run_id = history.run_id
    left join history as previous
        on
            runs.previous_run_id = previous.run_id
            and history.series_id = previous.series_id
            and history.period_start = previous.period_start
    group by all

),

final as (

    select
        runs.run_id,
        runs.previous_run_id,
        runs.frequency,
        runs.forecast_origin,
        runs.horizon,
        runs.started_at,
        runs.n_series,
        changed.n_changed as n_changed_forecasts,
        row_number() over (
            partition by runs.frequency, runs.forecast_origin
            order by runs.started_at desc, runs.run_id desc
        ) = 1 as is_live_for_origin,
        case
            when previous.run_id is not null
                then
                    runs.forecast_origin = previous.forecast_origin
                    and changed.n_changed = 0
                    and runs.n_series = previous.n_series
        end as repeats_previous_run
    from runs
    inner join changed
        on runs.run_id = changed.run_id
    left join runs as previous
        on runs.previous_run_id = previous.run_id

)

select * from final
