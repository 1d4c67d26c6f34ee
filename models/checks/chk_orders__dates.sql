{#- One row per distinct order date: the orders gate checks the range of a
    thousand dates rather than of millions of lines (suite orders__dates). -#}

with

orders as (

    select * from {{ ref('int_orders__screened') }}

),

final as (

    select
        order_date,
        count(*) as n_lines,
        min(order_line_id) as first_order_line_id
    from orders
    where order_date is not null
    group by all

)

select * from final
