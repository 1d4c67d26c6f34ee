"""Gate: the forecast and its check tables (suites forecast*); the BI tables wait for it."""

from demandcast import gates


def model(dbt, session):
    dbt.config(materialized="table")
    dbt.ref("int_run__started")  # run id, modes and thresholds
    # dbt reads refs from the source: one literal dbt.ref per table
    tables = {
        "int_forecast__predictions": dbt.ref("int_forecast__predictions"),
        "int_forecast__launches": dbt.ref("int_forecast__launches"),
        "chk_forecast__series": dbt.ref("chk_forecast__series"),
        "chk_forecast__intervals": dbt.ref("chk_forecast__intervals"),
        "chk_forecast__run": dbt.ref("chk_forecast__run"),
    }
    return gates.gate_in_build(tables, session)
