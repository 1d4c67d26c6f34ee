"""Refit each champion on all history and forecast the horizon with pooled
conformal intervals; cold start for new products (demandcast.forecast)."""

from demandcast import forecast
from demandcast.warehouse import read_calibration, read_run


def model(dbt, session):
    dbt.config(materialized="table")
    run = read_run(dbt.ref("int_run__context"))
    series = dbt.ref("int_series__filled").df()
    profiles = dbt.ref("int_series__profiled").df()
    champions = dbt.ref("int_forecast__champions").df()
    calibration = read_calibration(session)
    return forecast.forecast_series(
        series, profiles, champions, run.settings, calibration=calibration
    )
