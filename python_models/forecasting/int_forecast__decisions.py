"""Per live series and run: re-select its champion, refit it, or reuse its last forecast,
and why (demandcast.pipeline, demandcast.retrain). The previous runs are read from the
sources `memory` (fct_model_registry, fct_forecast_history, demandcast_backtest_memory as
the last published run left them: built downstream of this model; absent on the first
run)."""

from demandcast import pipeline
from demandcast.warehouse import Memory, read_run


def model(dbt, session):
    dbt.config(materialized="table")
    dbt.ref("gate_series")  # runs only once the series gate has passed
    run = read_run(dbt.ref("int_run__context"))
    series = dbt.ref("int_series__filled")  # read in batches (var batch_series)
    profiles = dbt.ref("int_series__profiled").df()
    overrides = dbt.ref("forecast_overrides").df()

    # the memory of the published runs: built downstream, so sources (none on a first run)
    def registry():
        return dbt.source("memory", "fct_model_registry")

    def history():
        return dbt.source("memory", "fct_forecast_history")

    def backtests():
        return dbt.source("memory", "demandcast_backtest_memory")

    memory = Memory.of_sources(
        session,
        fct_model_registry=registry,
        fct_forecast_history=history,
        demandcast_backtest_memory=backtests,
    )
    return pipeline.decide_run(session, run, series, profiles, overrides, memory=memory)
