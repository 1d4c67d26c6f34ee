"""Backtest every candidate on every eligible series: one metrics row per
series x candidate (demandcast.backtest). The pooled residual quantiles for
the forecast's intervals go to main.int_forecast__calibration."""

from demandcast import backtest
from demandcast.intervals import Calibration
from demandcast.warehouse import read_run, write_calibration


def model(dbt, session):
    dbt.config(materialized="table")
    dbt.ref("gate_series")  # runs only once the series gate has passed
    run = read_run(dbt.ref("int_run__context"))
    series = dbt.ref("int_series__filled").df()
    profiles = dbt.ref("int_series__profiled").df()
    calibration = Calibration()
    metrics = backtest.run_backtest(series, profiles, run.settings, calibration=calibration)
    write_calibration(session, calibration.quantiles(run.settings.levels))
    return metrics
