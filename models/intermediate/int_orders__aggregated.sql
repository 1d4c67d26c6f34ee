{#- Order lines to one row per series and period, up to the forecast origin:
    the usable lines (int_orders__usable; what is left out is counted in
    mon_orders__excluded). -#}

with

usable as (

    select * from {{ ref('int_orders__usable') }}

),

final as (

    select
        series_id,
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
