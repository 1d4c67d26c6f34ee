{#- Every run in fct_forecast_history, one row each, in the order they ran:
    the run before it of the same frequency (previous_run_id), whether it is
    the live run of its forecast origin (the latest: a rebuild at the same
    origin supersedes the run before it), how many of its forecasts changed
    since the previous run and how many are new, and whether its forecast
    repeats the previous run's in every row (a rebuild with nothing new). Rebuilt
    from the history each run. -#}

with

history as (

    select * from {{ ref('fct_forecast_history') }}

),

runs as (

    {{ history_runs(ref('fct_forecast_history')) }}

),

changed as (
    -- per run, the rows the previous run forecast too whose forecast or model
    -- differ from its, and the rows it has no row for (new periods or series)

    select
        runs.run_id,
        count(*) filter (
            where
            previous.run_id is not null
            and (
                previous.forecast is distinct from history.forecast
                or previous.model_name is distinct from history.model_name
            )
        ) as n_changed,
        count(*) filter (where previous.run_id is null) as n_new,
        count(previous.run_id) as n_compared
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
        case
            when changed.n_compared > 0 then changed.n_changed
        end as n_changed_forecasts,
        changed.n_new as n_new_forecasts,
        row_number() over (
            partition by runs.frequency, runs.forecast_origin
            order by runs.started_at desc, runs.run_id desc
        ) = 1 as is_live_for_origin,
        case
            when previous.run_id is not null
                then
                    runs.forecast_origin = previous.forecast_origin
                    and changed.n_changed = 0
                    and changed.n_new = 0
                    and runs.n_series = previous.n_series
        end as repeats_previous_run
    from runs
    inner join changed
        on runs.run_id = changed.run_id
    left join runs as previous
        on runs.previous_run_id = previous.run_id

)

select * from final
