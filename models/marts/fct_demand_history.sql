{#- Demand history per series and period, zeros filled: what the forecast
    is plotted against. -#}
-- depends_on: {{ ref('gate_series') }}

with

filled as (

    select * from {{ ref('int_series__filled') }}

),

final as (

    select
        series_id,
        plant_id,
        product_id,
        period_start,
        demand,
        sales_quantity,
        return_quantity,
        n_lines
    from filled

)

select * from final
