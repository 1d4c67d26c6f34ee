"""Gate: the run's origin against gx/run.yml and the demand series against gx/series.yml;
the backtest waits for it."""

from demandcast import gates


def model(dbt, session):
    dbt.config(materialized="table")
    # read by gates.warehouse_context
    dbt.ref("int_run__started")
    dbt.ref("stg_erp__products")
    dbt.ref("int_orders__screened")
    return gates.gate_in_build(
        {"run": dbt.ref("int_run__context"), "series": dbt.ref("int_series__filled")},
        con=session,
    )
