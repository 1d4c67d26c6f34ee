"""Backtest every candidate on every eligible series: one metrics row per
series x candidate (demandcast.backtest)."""

from demandcast import backtest
from demandcast.warehouse import read_run


def model(dbt, session):
    dbt.config(materialized="table")
    dbt.ref("gate_series")  # runs only once the series gate has passed
    run = read_run(dbt.ref("int_run__context"))
    series = dbt.ref("int_series__filled").df()
    profiles = dbt.ref("int_series__profiled").df()
    return backtest.run_backtest(series, profiles, run.settings)
