"""Backtest every candidate on the series int_forecast__decisions marks (re-selected, or
with no backtest on record); every other eligible series carries its latest backtest from
the memory (demandcast.pipeline, demandcast.backtest). One metrics row per series x
candidate. The pooled residual quantiles for the forecast's intervals, over every
eligible series, go to main.int_forecast__calibration."""

from demandcast import pipeline
from demandcast.warehouse import read_run


def model(dbt, session):
    dbt.config(materialized="table")
    dbt.ref("gate_series")  # runs only once the series gate has passed
    run = read_run(dbt.ref("int_run__context"))
    series = dbt.ref("int_series__filled")  # read in batches (var batch_series)
    profiles = dbt.ref("int_series__profiled").df()
    decisions = dbt.ref("int_forecast__decisions").df()
    return pipeline.backtest_run(session, run, series, profiles, decisions)
