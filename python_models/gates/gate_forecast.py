"""Gate: the forecast against gx/forecast.yml; the BI tables wait for it."""

from demandcast import gates


def model(dbt, session):
    dbt.config(materialized="table")
    # read by gates.warehouse_context
    dbt.ref("int_run__started")
    dbt.ref("int_run__context")
    dbt.ref("int_series__profiled")
    dbt.ref("int_series__filled")  # the history a forecast is judged against
    return gates.gate_in_build("forecast", dbt.ref("int_forecast__predictions"), session)
