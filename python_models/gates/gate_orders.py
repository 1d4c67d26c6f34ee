"""Gate: the staged order lines against gx/orders.yml; the series wait for it."""

from demandcast import gates
from demandcast.warehouse import read_run


def model(dbt, session):
    dbt.config(materialized="table")
    run = read_run(dbt.ref("int_run__started"))
    return gates.run_gate(
        "orders",
        dbt.ref("stg_erp__orders").df(),
        con=session,
        run_id=run.run_id,
        mode=run.json("gate_modes").get("orders", "fail"),
        context={
            "run_date": run.get("run_date"),
            "max_duplicate_share": run.get("max_duplicate_share"),
        },
    )
