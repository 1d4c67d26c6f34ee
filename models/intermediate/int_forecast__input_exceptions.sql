{#- The exceptions the run's inputs raise, for fct_forecast_exceptions:
    launch (a planned launch forecast before its first orders) and
    unknown_product (a series whose orders name a product the products file
    does not list: no name or group, forecast as usual; its first order line
    by file and row). None of the second when there is no products file. -#}

with

series as (

    select * from {{ ref('int_series__profiled') }}

),

master as (

    select * from {{ ref('stg_erp__products') }}

),

master_size as (

    select count(*) as n_products from master

),

forecast_models as (

    select
        series_id,
        min(model_name) as model_name
    from {{ ref('int_forecast__predictions') }}
    group by all

),

unlisted_lines as (

    select
        ordered.product_id,
        count(*) as n_lines,
        arg_min(ordered.source_file, ordered.order_line_id) as first_file,
        arg_min(ordered.source_row, ordered.order_line_id) as first_row
    from {{ ref('int_orders__screened') }} as ordered
    anti join master
        on ordered.product_id = master.product_id
    cross join master_size
    where master_size.n_products > 0
    group by all

),

unknown_product as (

    select
        series.series_id,
        series.plant_id,
        series.product_id,
        'unknown_product' as exception_type,
        forecast_models.model_name,
        printf(
            'product %s is not in the products file (%d order line(s), the'
            || ' first %s row %d): no name or group; forecast as usual, add it'
            || ' to the product master or correct the id',
            series.product_id,
            unlisted_lines.n_lines,
            unlisted_lines.first_file,
            unlisted_lines.first_row
        ) as detail,
        series.lifecycle,
        series.demand_class
    from series
    inner join unlisted_lines
        on series.product_id = unlisted_lines.product_id
    left join forecast_models
        on series.series_id = forecast_models.series_id

),

launched as (

    select
        launches.series_id,
        planned.plant_id,
        planned.product_id,
        'launch' as exception_type,
        launches.model_name,
        -- the first week's words: a later week's add a plant closure's
        arg_min(launches.fallback_reason, launches.step) as detail,
        'launch' as lifecycle,
        null::varchar as demand_class
    from {{ ref('int_forecast__launches') }} as launches
    inner join {{ ref('stg_erp__launches') }} as planned
        on launches.series_id = planned.series_id
    group by all

),

final as (

    select * from unknown_product  -- noqa: AM07
    union all
    select * from launched

)

select * from final
