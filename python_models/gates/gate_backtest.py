"""Gate: the backtest metrics against gx/backtest.yml; selection waits for it."""

from demandcast import gates
from demandcast.warehouse import read_run


def model(dbt, session):
    dbt.config(materialized="table")
    started = read_run(dbt.ref("int_run__started"))
    run = read_run(dbt.ref("int_run__context"))
    eligible = dbt.ref("int_series__profiled").filter(
        "is_backtestable and lifecycle != 'discontinued'"
    )
    return gates.run_gate(
        "backtest",
        dbt.ref("int_forecast__backtest").df(),
        con=session,
        run_id=run.run_id,
        mode=started.json("gate_modes").get("backtest", "fail"),
        context={"expected_series_ids": eligible.df()["series_id"].tolist()},
    )
