"""Refit each champion on all history and forecast the horizon with pooled conformal
intervals (int_forecast__calibration), cold start for new products (demandcast.forecast);
a series whose history did not change keeps its last forecast (demandcast.pipeline,
demandcast.retrain)."""

from demandcast import pipeline
from demandcast.warehouse import Memory, read_run


def model(dbt, session):
    dbt.config(materialized="table")
    run = read_run(dbt.ref("int_run__context"))
    series = dbt.ref("int_series__filled")  # read in batches (var batch_series)
    profiles = dbt.ref("int_series__profiled").df()
    champions = dbt.ref("int_forecast__champions").df()
    decisions = dbt.ref("int_forecast__decisions").df()
    calibration = dbt.ref("int_forecast__calibration").df()
    closures = dbt.ref("int_forecast__closures").df()  # recurring plant closures

    def history():  # the reused forecasts: built downstream (none on a first run)
        return dbt.source("memory", "fct_forecast_history")

    memory = Memory.of_sources(session, fct_forecast_history=history)
    return pipeline.forecast_run(
        session,
        run,
        series,
        profiles,
        champions,
        decisions,
        calibration,
        memory=memory,
        closure_weeks=closures,
    )
