"""Forecast the planned launches that have no orders yet (stg_erp__launches) from the
launch curves of their product group or an analog's first periods (demandcast.launch)."""

from demandcast.launch import as_arrow, forecast_launches
from demandcast.warehouse import read_run


def model(dbt, session):
    dbt.config(materialized="table")
    run = read_run(dbt.ref("int_run__context"))
    launches = dbt.ref("stg_erp__launches").df()
    history = dbt.ref("int_series__filled").project("series_id, period_start, demand").df()
    series = dbt.ref("int_series__profiled").df()
    products = dbt.ref("stg_erp__products").df().set_index("product_id")["product_group"]
    origin = run.get("forecast_origin")
    frame = forecast_launches(launches, history, series, products, origin, run.settings)
    return session.from_arrow(as_arrow(frame, run.settings.levels))
