{#- Each plant's demand per order date up to the forecast origin, where the
    orders are dated by the day (data_cadence 'day'; none otherwise): the
    forecast step reads a recurring closure's days from it (a plant shut
    from 24 December to 1 January closes part of one week and all of the
    next). Duplicates and lines without a key are left out, as in
    int_orders__aggregated. -#}

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
        orders.order_date,
        orders.quantity
    from orders
    cross join context
    where
        {{ usable_order_line() }}
        and context.data_cadence = 'day'

),

final as (

    select
        plant_id,
        order_date,
        sum(quantity) as demand,
        count(*) as n_lines
    from usable
    group by all

)

select * from final
