"""Refit each champion on all history and forecast the horizon with
intervals; cold start for short series (demandcast.forecast)."""

from demandcast import forecast
from demandcast.warehouse import read_run


def model(dbt, session):
    dbt.config(materialized="table")
    run = read_run(dbt.ref("int_run__context"))
    series = dbt.ref("int_series__filled").df()
    profiles = dbt.ref("int_series__profiled").df()
    champions = dbt.ref("int_forecast__champions").df()
    return forecast.forecast_series(series, profiles, champions, run.settings)
