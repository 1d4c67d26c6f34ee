"""Gate: the staged order lines against gx/orders.yml; the series wait for it."""

from demandcast import gates


def model(dbt, session):
    dbt.config(materialized="table")
    dbt.ref("int_run__started")  # run id, run date, mode and thresholds
    return gates.gate_in_build("orders", dbt.ref("stg_erp__orders"), session)
