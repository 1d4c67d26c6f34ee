{#- Order lines whose quantity was cut to the plausibility threshold (var
    outlier_action = cap), with the original value: empty in mode fail. -#}

with

screened as (

    select * from {{ ref('int_orders__screened') }}

),

context as (

    select * from {{ ref('int_run__context') }}

),

final as (

    select
        context.run_id,
        screened.source_file,
        screened.source_row,
        screened.plant_id,
        screened.product_id,
        screened.order_date,
        screened.original_quantity,
        screened.quantity as capped_quantity,
        screened.median_line_quantity,
        screened.plausible_max
    from screened
    cross join context
    where screened.is_implausible

)

select * from final
