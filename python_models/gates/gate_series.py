"""Gate: the demand series against gx/series.yml; the backtest waits for it."""

from demandcast import gates
from demandcast.warehouse import read_run


def model(dbt, session):
    dbt.config(materialized="table")
    started = read_run(dbt.ref("int_run__started"))
    run = read_run(dbt.ref("int_run__context"))
    origin = run.get("forecast_origin")
    active = dbt.ref("stg_erp__products").filter(
        f"(discontinued_date is null or discontinued_date > '{origin}')"
        f" and (launch_date is null or launch_date <= '{origin}')"
    )
    return gates.run_gate(
        "series",
        dbt.ref("int_series__filled").df(),
        con=session,
        run_id=run.run_id,
        mode=started.json("gate_modes").get("series", "fail"),
        context={
            "allow_negative_demand": started.get("allow_negative_demand"),
            "forecast_origin": origin,
            "frequency": run.get("frequency"),
            "active_product_ids": active.df()["product_id"].tolist(),
        },
    )
