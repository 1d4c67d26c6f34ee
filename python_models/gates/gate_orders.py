"""Gate: the order lines and the master files against gx/orders.yml, gx/products.yml and
gx/plants.yml; the series wait for it."""

from demandcast import gates


def model(dbt, session):
    dbt.config(materialized="table")
    dbt.ref("int_run__started")  # run id, run date, mode and thresholds
    return gates.gate_in_build(
        {
            "orders": dbt.ref("int_orders__screened"),
            "products": dbt.ref("stg_erp__products"),
            "plants": dbt.ref("stg_erp__plants"),
        },
        con=session,
    )
