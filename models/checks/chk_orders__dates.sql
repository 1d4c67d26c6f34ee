{#- One row per distinct order date: the orders gate checks the range of a
    thousand dates rather than of millions of lines (suite orders__dates).
    Each date names its first line, and where that line is in the raw files. -#}

with

orders as (

    select * from {{ ref('int_orders__screened') }}

),

final as (

    select
        order_date,
        count(*) as n_lines,
        min(order_line_id) as first_order_line_id,
        arg_min(source_file, order_line_id) as first_source_file,
        arg_min(source_row, order_line_id) as first_source_row
    from orders
    where order_date is not null
    group by all

)

select * from final
