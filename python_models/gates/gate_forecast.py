"""Gate: the forecast against gx/forecast.yml; the BI tables wait for it."""

from demandcast import gates
from demandcast.warehouse import read_run


def model(dbt, session):
    dbt.config(materialized="table")
    started = read_run(dbt.ref("int_run__started"))
    run = read_run(dbt.ref("int_run__context"))
    forecastable = dbt.ref("int_series__profiled").filter("lifecycle != 'discontinued'")
    history = dbt.ref("int_series__filled").aggregate("series_id, max(demand) as history_max")
    return gates.run_gate(
        "forecast",
        dbt.ref("int_forecast__predictions").df(),
        con=session,
        run_id=run.run_id,
        mode=started.json("gate_modes").get("forecast", "fail"),
        context={
            "horizon": run.get("horizon"),
            "expected_series_ids": forecastable.df()["series_id"].tolist(),
            "history_max": history.df(),
        },
    )
