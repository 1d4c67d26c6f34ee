"""Gate: the backtest metrics against gx/backtest.yml; selection waits for it."""

from demandcast import gates


def model(dbt, session):
    dbt.config(materialized="table")
    # read by gates.warehouse_context
    dbt.ref("int_run__started")
    dbt.ref("int_run__context")
    dbt.ref("int_series__profiled")
    return gates.gate_in_build("backtest", dbt.ref("int_forecast__backtest"), session)
