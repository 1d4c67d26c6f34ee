"""The forecast at every level (total, plant, product group, product, plant x product
group, plant x product), reconciled so the levels add up: aggregate models on the summed
series, the method chosen by a backtest on the base's windows (demandcast.levels).

The aggregate model's forecasts are taken from this model's own last output (dbt.this)
when they were made from the same inputs: a build with no new data fits nothing here."""

import duckdb

from demandcast import levels
from demandcast.warehouse import read_run


def model(dbt, session):
    dbt.config(materialized="table")
    dbt.ref("gate_forecast")  # runs only once the forecast gate has passed
    run = read_run(dbt.ref("int_run__context"))
    series = dbt.ref("int_series__filled")
    profiles = dbt.ref("int_series__profiled").df()
    predictions = dbt.ref("int_forecast__predictions").df()
    champions = dbt.ref("int_forecast__champions").df()
    backtest = dbt.ref("int_forecast__backtest")  # a relation: only the champions' rows are read
    try:  # the last output, on a warehouse that has one with the reuse columns
        previous = session.sql(
            f"select level, level_key, step, {', '.join(levels.REUSE_COLUMNS)}"
            f" from {dbt.this} where own_inputs is not null"
        ).df()
    except duckdb.Error:
        previous = None
    closures = dbt.ref("int_forecast__closures").df()  # the plants' closure weeks
    return levels.levels_run(
        session,
        run,
        series,
        profiles,
        predictions,
        champions,
        backtest,
        previous=previous,
        closures=closures,
    )
