-- Net demand per series (returns included) equals the sum over its order
-- lines up to the origin, duplicates and keyless lines aside.
with

orders as (

    select * from {{ ref('int_orders__screened') }}

),

context as (

    select * from {{ ref('int_run__context') }}

),

filled as (

    select * from {{ ref('int_series__filled') }}

),

from_orders as (

    select
        {{ series_id('orders.plant_id', 'orders.product_id') }} as series_id,
        sum(orders.quantity) as quantity
    from orders
    cross join context
    where {{ usable_order_line() }}
    group by 1

),

from_series as (

    select
        series_id,
        sum(demand) as demand
    from filled
    group by 1

)

select
    coalesce(from_orders.series_id, from_series.series_id) as series_id,
    from_orders.quantity,
    from_series.demand
from from_orders
full outer join from_series
    on from_orders.series_id = from_series.series_id
where
    from_orders.series_id is null
    or from_series.series_id is null
    or abs(from_orders.quantity - from_series.demand)
    > 1e-6 * greatest(1, abs(from_orders.quantity))
