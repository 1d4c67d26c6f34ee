{#- One row per plant and product: sales and returns over the lines that are
    not duplicates (suite orders__series: returns never exceed sales). -#}

with

orders as (

    select * from {{ ref('int_orders__screened') }}

),

final as (

    select
        plant_id,
        product_id,
        count(*) as n_lines,
        coalesce(
            sum(quantity) filter (where quantity > 0 and isfinite(quantity)), 0
        ) as sales_quantity,
        coalesce(
            -sum(quantity) filter (where quantity < 0 and isfinite(quantity)), 0
        ) as return_quantity
    from orders
    where not coalesce(is_duplicate, false)
    group by all

)

select * from final
