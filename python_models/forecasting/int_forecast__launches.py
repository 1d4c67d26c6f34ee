"""Forecast the planned launches that have no orders yet (stg_erp__launches) from the
launch curves of their product group or an analog's first periods (demandcast.launch),
each plant's recurring closures (int_forecast__closures) applied as to every series of
the plant (demandcast.pipeline.with_closures)."""

from demandcast.launch import as_arrow, forecast_launches
from demandcast.pipeline import with_closures, without_past_closures
from demandcast.warehouse import read_run


def model(dbt, session):
    dbt.config(materialized="table")
    run = read_run(dbt.ref("int_run__context"))
    launches = dbt.ref("stg_erp__launches").df()
    filled = dbt.ref("int_series__filled")
    history = filled.project("series_id, period_start, demand").df()
    # past closure weeks out of the curves: the future's are scaled by the plant's closures
    history = without_past_closures(history, filled, run.settings)
    series = dbt.ref("int_series__profiled").df()
    products = dbt.ref("stg_erp__products").df().set_index("product_id")["product_group"]
    origin = run.get("forecast_origin")
    frame = forecast_launches(launches, history, series, products, origin, run.settings)
    if run.settings.frequency == "week" and len(frame):
        plants = launches.set_index(launches["series_id"].astype(str))["plant_id"]
        frame = with_closures(
            filled,
            frame,
            run.settings,
            plants=plants,
            factors=dbt.ref("int_forecast__closures").df(),
        )
    return session.from_arrow(as_arrow(frame, run.settings.levels))
