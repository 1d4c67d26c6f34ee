"""Gate: the run's origin (suite run) and the demand series with their check tables
(suites series*); the backtest waits for it."""

from demandcast import gates


def model(dbt, session):
    dbt.config(materialized="table")
    dbt.ref("int_run__started")  # run id, modes and thresholds
    # dbt reads refs from the source: one literal dbt.ref per table
    tables = {
        "int_run__context": dbt.ref("int_run__context"),
        "int_series__filled": dbt.ref("int_series__filled"),
        "chk_series__demand": dbt.ref("chk_series__demand"),
        "chk_series__series": dbt.ref("chk_series__series"),
        "chk_series__products": dbt.ref("chk_series__products"),
    }
    return gates.gate_in_build(tables, session)
