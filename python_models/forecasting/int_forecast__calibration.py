"""The pooled residual quantiles the forecast's intervals are made of, per demand class,
candidate and horizon step, over the scaled residuals of every row of
int_forecast__backtest, backtested in this run or carried from the memory, but those
dated in a recurring plant closure (demandcast.pipeline.calibration_run,
demandcast.intervals)."""

from demandcast import pipeline
from demandcast.warehouse import read_run


def model(dbt, session):
    dbt.config(materialized="table")
    run = read_run(dbt.ref("int_run__context"))
    backtest = dbt.ref("int_forecast__backtest")
    series = dbt.ref("int_series__filled")  # the plants' weekly totals: their closures
    rows = backtest.project(
        "series_id, backtest_origin, demand_class, model_name, residuals"
    ).filter("residuals is not null")
    return pipeline.calibration_run(run, rows.df(), series)
