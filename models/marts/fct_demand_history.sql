{#- Demand history per series and period, zeros filled: what the forecast
    is plotted against, and the actuals past forecasts are scored on. The
    periods are those of this build's frequency (a column, so accuracy only
    ever joins forecasts of the same frequency). -#}
-- depends_on: {{ ref('gate_series') }}

with

filled as (

    select * from {{ ref('int_series__filled') }}

),

context as (

    select * from {{ ref('int_run__context') }}

),

final as (

    select
        filled.series_id,
        filled.plant_id,
        filled.product_id,
        filled.period_start,
        filled.demand,
        filled.sales_quantity,
        filled.return_quantity,
        filled.n_lines,
        context.frequency
    from filled
    cross join context

)

select * from final
