"""Gate: the backtest metrics and their check table (suites backtest*); selection waits
for it."""

from demandcast import gates


def model(dbt, session):
    dbt.config(materialized="table")
    dbt.ref("int_run__started")  # run id, modes and thresholds
    # dbt reads refs from the source: one literal dbt.ref per table
    tables = {
        "int_forecast__backtest": dbt.ref("int_forecast__backtest"),
        "chk_backtest__series": dbt.ref("chk_backtest__series"),
    }
    return gates.gate_in_build(tables, session)
