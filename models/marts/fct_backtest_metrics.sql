{#- Backtest accuracy of every candidate on every series, with the series'
    demand class: what the leaderboard and a data scientist read. -#}
-- depends_on: {{ ref('gate_forecast') }}

with

metrics as (

    select * from {{ ref('int_forecast__backtest') }}

),

series as (

    select * from {{ ref('int_series__profiled') }}

),

champions as (

    select * from {{ ref('int_forecast__champions') }}

),

context as (

    select * from {{ ref('int_run__context') }}

),

final as (

    select
        -- keys
        metrics.series_id,
        series.plant_id,
        series.product_id,
        metrics.model_name,

        -- scores
        metrics.n_windows,
        metrics.mae,
        metrics.rmse,
        metrics.bias,
        metrics.smape,
        metrics.wape,
        metrics.mase,
        metrics.rmsse,
        metrics.status,
        metrics.error_message,
        metrics.n_fits,
        -- a per-series top-k champion, MeanTopK[A|B|C], is a MeanTopK win
        coalesce(
            metrics.model_name = split_part(champions.champion, '[', 1), false
        ) as is_champion,

        -- context
        series.demand_class,
        context.run_id,
        context.forecast_origin,
        -- the run that backtested the series (earlier runs' rows are carried)
        metrics.backtest_run_id,
        cast(metrics.backtest_origin as date) as backtest_origin
    from metrics
    inner join series
        on metrics.series_id = series.series_id
    left join champions
        on metrics.series_id = champions.series_id
    cross join context

)

select * from final
