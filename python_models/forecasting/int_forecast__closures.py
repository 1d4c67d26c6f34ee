"""Each plant's weeks of the horizon that a recurring closure dips (a year-end shutdown,
a fixed holiday), found on the plant's weekly totals or, where the orders are dated by
the day, its days (demandcast.closures): the factor its forecast of the week is scaled
by and why. int_forecast__predictions and int_forecast__launches scale by it;
fct_demand_forecast carries the factor."""

from demandcast import pipeline
from demandcast.warehouse import read_run


def model(dbt, session):
    dbt.config(materialized="table")
    run = read_run(dbt.ref("int_run__context"))
    series = dbt.ref("int_series__filled")
    days = dbt.ref("int_orders__plant_days")
    return pipeline.closures_run(run, series, days)
