"""Backtest every candidate on the series int_forecast__decisions marks (re-selected, or
with no backtest on record); every other eligible series carries its latest backtest from
the memory (demandcast.pipeline, demandcast.backtest). One metrics row per series x
candidate, with the series' demand class and its scaled residuals, which
demandcast_backtest_memory keeps and int_forecast__calibration pools."""

from demandcast import pipeline
from demandcast.warehouse import Memory, read_run


def model(dbt, session):
    dbt.config(materialized="table")
    dbt.ref("gate_series")  # runs only once the series gate has passed
    run = read_run(dbt.ref("int_run__context"))
    series = dbt.ref("int_series__filled")  # read in batches (var batch_series)
    profiles = dbt.ref("int_series__profiled").df()
    decisions = dbt.ref("int_forecast__decisions").df()

    def backtests():  # the carried backtests: built downstream (none on a first run)
        return dbt.source("memory", "demandcast_backtest_memory")

    memory = Memory.of_sources(session, demandcast_backtest_memory=backtests)
    return pipeline.backtest_run(session, run, series, profiles, decisions, memory=memory)
