"""Gate: the order lines, their check tables and the master files (suites orders*,
products, plants in gx/); the series wait for it."""

from demandcast import gates


def model(dbt, session):
    dbt.config(materialized="table")
    dbt.ref("int_run__started")  # run id, run date, modes and thresholds
    # dbt reads refs from the source: one literal dbt.ref per table
    tables = {
        "int_orders__screened": dbt.ref("int_orders__screened"),
        "chk_orders__lines": dbt.ref("chk_orders__lines"),
        "chk_orders__dates": dbt.ref("chk_orders__dates"),
        "chk_orders__periods": dbt.ref("chk_orders__periods"),
        "chk_orders__plants": dbt.ref("chk_orders__plants"),
        "chk_orders__series": dbt.ref("chk_orders__series"),
        "stg_erp__products": dbt.ref("stg_erp__products"),
        "stg_erp__plants": dbt.ref("stg_erp__plants"),
    }
    return gates.gate_in_build(tables, session)
