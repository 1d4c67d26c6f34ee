{#- Each plant's demand per order date up to the forecast origin, where the
    orders are dated by the day (data_cadence 'day'; none otherwise): the
    forecast step reads a recurring closure's days from it (a plant shut
    from 24 December to 1 January closes part of one week and all of the
    next). The usable lines, as int_orders__aggregated sums them. -#}

with

usable as (

    select * from {{ ref('int_orders__usable') }}

),

context as (

    select * from {{ ref('int_run__context') }}

),

final as (

    select
        usable.plant_id,
        usable.order_date,
        sum(usable.quantity) as demand,
        count(*) as n_lines
    from usable
    cross join context
    where context.data_cadence = 'day'
    group by all

)

select * from final
