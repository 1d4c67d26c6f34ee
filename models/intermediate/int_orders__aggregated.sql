{#- Order lines to one row per series and period, up to the forecast origin.
    Exact duplicates and lines without a key are left out here; what is left
    out is counted in mon_orders__excluded. -#}

with

orders as (

    select * from {{ ref('int_orders__screened') }}

),

context as (

    select * from {{ ref('int_run__context') }}

),

usable as (

    select
        orders.plant_id,
        orders.product_id,
        orders.quantity,
        {{ period_start('orders.order_date') }} as period_start
    from orders
    cross join context
    where {{ usable_order_line() }}

),

final as (

    select
        {{ series_id('plant_id', 'product_id') }} as series_id,
        plant_id,
        product_id,
        period_start,
        sum(quantity) as demand,
        coalesce(sum(quantity) filter (where quantity > 0), 0)
            as sales_quantity,
        coalesce(-sum(quantity) filter (where quantity < 0), 0)
            as return_quantity,
        count(*) as n_lines
    from usable
    group by all

)

select * from final
