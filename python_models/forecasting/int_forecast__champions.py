"""Choose one champion per series from the backtest (demandcast.selection)."""

from demandcast import selection
from demandcast.warehouse import read_run


def model(dbt, session):
    dbt.config(materialized="table")
    dbt.ref("gate_backtest")  # runs only once the backtest gate has passed
    run = read_run(dbt.ref("int_run__context"))
    metrics = dbt.ref("int_forecast__backtest").df()
    profiles = dbt.ref("int_series__profiled").df()
    return selection.select_champions(metrics, profiles, run.settings)
