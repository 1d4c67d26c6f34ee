{#- The memory of the backtest: every published run's backtest rows of the
    series it backtested, with the series' demand class and scaled residuals,
    so a later run carries them instead of backtesting the series again
    (int_forecast__backtest reads it as the source memory). Appended per run,
    never rebuilt; begin_run removes the rows of runs that never published,
    and the post-hook the rows of runs older than memory_keep_runs that no
    series needs (macro prune_memory). -#}

with

backtest as (

    select * from {{ ref('int_forecast__backtest') }}

),

decisions as (

    select * from {{ ref('int_forecast__decisions') }}

),

context as (

    select * from {{ ref('int_run__context') }}

),

final as (

    select
        -- keys
        backtest.backtest_run_id as run_id,
        backtest.series_id,
        backtest.model_name,

        -- what it was backtested under, when
        decisions.settings_hash,
        context.started_at as backtested_at,
        backtest.backtest_origin,
        backtest.demand_class,

        -- scores
        backtest.n_windows,
        backtest.mae,
        backtest.rmse,
        backtest.bias,
        backtest.smape,
        backtest.wape,
        backtest.mase,
        backtest.rmsse,
        backtest.status,
        backtest.error_message,
        backtest.members,
        backtest.residuals
    from backtest
    inner join decisions
        on backtest.series_id = decisions.series_id
    cross join context
    where
        backtest.backtest_run_id = context.run_id
        and {{ not_yet_appended('context.run_id') }}

)

select * from final
