"""One champion per series: selected from the backtest for the series to re-select
(demandcast.selection), kept from the registry for the others, or pinned by an override
(demandcast.pipeline, demandcast.retrain)."""

from demandcast import pipeline
from demandcast.warehouse import Memory, read_run


def model(dbt, session):
    dbt.config(materialized="table")
    dbt.ref("gate_backtest")  # runs only once the backtest gate has passed
    run = read_run(dbt.ref("int_run__context"))
    metrics = dbt.ref("int_forecast__backtest").df()
    profiles = dbt.ref("int_series__profiled").df()
    decisions = dbt.ref("int_forecast__decisions").df()

    def registry():  # the kept champions: built downstream (none on a first run)
        return dbt.source("memory", "fct_model_registry")

    memory = Memory.of_sources(session, fct_model_registry=registry)
    return pipeline.champions_run(session, run, metrics, profiles, decisions, memory=memory)
