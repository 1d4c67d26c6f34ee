{#- The order lines that make up demand, by the one rule (macro
    usable_order_line: not an exact duplicate, every key and value present,
    dated before the first forecast period), each with its series, period
    and place in the raw files. int_orders__aggregated sums them per series
    and period, int_orders__plant_days per plant and day, and
    chk_series__demand finds a negative period's returns among them;
    mon_orders__excluded counts the other lines by reason. A view. -#}

{{ config(materialized='view') }}

with

orders as (

    select * from {{ ref('int_orders__screened') }}

),

context as (

    select * from {{ ref('int_run__context') }}

),

final as (

    select
        {{ series_id('orders.plant_id', 'orders.product_id') }} as series_id,
        orders.plant_id,
        orders.product_id,
        orders.order_date,
        {{ period_start('orders.order_date') }} as period_start,
        orders.quantity,
        orders.order_line_id,
        orders.source_file,
        orders.source_row
    from orders
    cross join context
    where {{ usable_order_line() }}

)

select * from final
