{#- What the series leave out of the order lines, by reason, so nothing is
    dropped without a count. -#}

with

orders as (

    select * from {{ ref('int_orders__screened') }}

),

context as (

    select * from {{ ref('int_run__context') }}

),

reasoned as (

    select
        orders.quantity,
        case
            when orders.is_duplicate then 'exact_duplicate'
            when
                orders.plant_id is null
                or orders.product_id is null
                or orders.order_date is null
                or orders.quantity is null
                then 'missing_value'
            when orders.order_date >= context.forecast_start
                then 'after_forecast_origin'
        end as reason
    from orders
    cross join context

),

final as (

    select
        context.run_id,
        reasoned.reason,
        count(*) as n_lines,
        coalesce(sum(reasoned.quantity), 0) as quantity
    from reasoned
    cross join context
    where reasoned.reason is not null
    group by all

)

select * from final
