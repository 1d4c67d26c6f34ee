{#- One row per series and period whose net demand is below zero (suite
    series__demand; var allow_negative_demand accepts them), with the
    period's largest return and where that line is in the raw files, so a
    planner can find the booking (null when no line of the period is a
    return). Empty when no period is negative. -#}

with

negative as (

    select
        series_id,
        period_start,
        demand
    from {{ ref('int_series__filled') }}
    where demand < 0

),

orders as (

    select * from {{ ref('int_orders__screened') }}

),

context as (

    select * from {{ ref('int_run__context') }}

),

usable as (

    select
        {{ series_id('orders.plant_id', 'orders.product_id') }} as series_id,
        {{ period_start('orders.order_date') }} as period_start,
        orders.order_line_id,
        orders.quantity,
        orders.source_file,
        orders.source_row
    from orders
    cross join context
    where {{ usable_order_line() }} and orders.quantity < 0

),

final as (

    select
        negative.series_id,
        negative.period_start,
        negative.demand,
        min(usable.quantity) as largest_return,
        arg_min(usable.source_file, usable.quantity) as return_source_file,
        arg_min(usable.source_row, usable.quantity) as return_source_row
    from negative
    left join usable
        on
            negative.series_id = usable.series_id
            and negative.period_start = usable.period_start
    group by all

)

select * from final
