-- Every product the master calls active (launched by the origin, not
-- discontinued) and that has been ordered has a demand series in at least one
-- plant: assembling the series must not lose a product.
with

products as (

    select * from {{ ref('stg_erp__products') }}

),

context as (

    select * from {{ ref('int_run__context') }}

),

profiled as (

    select * from {{ ref('int_series__profiled') }}

),

orders as (

    select * from {{ ref('stg_erp__orders') }}

)

select products.product_id
from products
cross join context
where
    (
        products.discontinued_date is null
        or products.discontinued_date > context.forecast_origin
    )
    and (
        products.launch_date is null
        or products.launch_date <= context.forecast_origin
    )
    and exists (
        select 1
        from orders
        where
            orders.product_id = products.product_id
            and not orders.is_duplicate
            and orders.order_date <= context.forecast_origin
    )
    and not exists (
        select 1
        from profiled
        where profiled.product_id = products.product_id
    )
