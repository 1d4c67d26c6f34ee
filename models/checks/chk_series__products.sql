{#- One row per product the master calls active at the origin (launched, not
    discontinued) and that was ordered by then: how many series it has
    (suite series__products: at least one, or it would get no forecast). -#}

with

products as (

    select * from {{ ref('stg_erp__products') }}

),

orders as (

    select * from {{ ref('int_orders__screened') }}

),

filled as (

    select * from {{ ref('int_series__filled') }}

),

context as (

    select * from {{ ref('int_run__context') }}

),

active as (

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
        and products.product_id in (
            select orders.product_id
            from orders
            cross join context as origin
            where
                not orders.is_duplicate
                and orders.order_date <= origin.forecast_origin
        )

),

final as (

    select
        active.product_id,
        count(distinct filled.series_id) as n_series
    from active
    left join filled on active.product_id = filled.product_id
    group by all

)

select * from final
