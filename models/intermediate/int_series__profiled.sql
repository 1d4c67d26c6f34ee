{#- One row per series: history length, intermittency (ADI, CV²) and the
    Syntetos–Boylan class, lifecycle, whether it is inactive, and whether it
    can be backtested. Only the product master's discontinued_date ends a
    series, unless var discontinued_after_periods (default null) also lets a
    long silence do it; a shorter pause (no demand in lifecycle_periods) only
    flags the series inactive: it is forecast as usual. -#}

{%- set discontinued_after = var('discontinued_after_periods', none) %}

with

filled as (

    select * from {{ ref('int_series__filled') }}

),

products as (

    select * from {{ ref('stg_erp__products') }}

),

context as (

    select * from {{ ref('int_run__context') }}

),

demand_classes as (

    select * from {{ ref('demand_classes') }}

),

stats as (

    select
        series_id,
        plant_id,
        product_id,
        min(period_start) as first_period,
        max(period_start) as last_period,
        max(period_start) filter (where demand > 0) as last_demand_period,
        count(*) as n_periods,
        count(*) filter (where demand > 0) as n_nonzero,
        sum(demand) as total_demand,
        sum(sales_quantity) as total_sales,
        sum(return_quantity) as total_returns,
        avg(demand) as mean_demand,
        avg(demand) filter (where demand > 0) as mean_nonzero,
        stddev_pop(demand) filter (where demand > 0) as sd_nonzero
    from filled
    group by all

),

measured as (

    select
        *,
        coalesce(
            date_diff('{{ frequency() }}', last_demand_period, last_period),
            n_periods
        ) as trailing_zero_periods,
        1 - cast(n_nonzero as double) / n_periods as zero_share,
        case
            when n_nonzero > 0 then cast(n_periods as double) / n_nonzero
        end as adi,
        case
            when n_nonzero > 0 and mean_nonzero > 0
                then power(coalesce(sd_nonzero, 0) / mean_nonzero, 2)
        end as cv2
    from stats

),

classified as (

    select
        measured.*,
        case
            when measured.n_nonzero = 0 then 'no_demand'
            else demand_classes.demand_class
        end as demand_class
    from measured
    left join demand_classes
        on
            measured.adi >= demand_classes.adi_from
            and measured.adi < coalesce(demand_classes.adi_below, 'infinity')
            and coalesce(measured.cv2, 0) >= demand_classes.cv2_from
            and coalesce(measured.cv2, 0)
            < coalesce(demand_classes.cv2_below, 'infinity')

),

lifecycles as (

    select
        classified.series_id,
        classified.plant_id,
        classified.product_id,
        products.product_group,
        classified.first_period,
        classified.last_period,
        classified.last_demand_period,
        classified.n_periods,
        classified.n_nonzero,
        classified.zero_share,
        classified.adi,
        classified.cv2,
        classified.demand_class,
        classified.trailing_zero_periods,
        case
            when
                products.discontinued_date is not null
                and products.discontinued_date <= context.forecast_origin
                then 'discontinued'
            {%- if discontinued_after is not none %}
            when
                classified.n_nonzero = 0
                or classified.trailing_zero_periods >= greatest(
                    {{ discontinued_after }},
                    ceil(3 * classified.adi)
                )
                then 'discontinued'
            {%- endif %}
            when
                classified.n_periods <= {{ var('lifecycle_periods') }}
                or products.launch_date > cast(
                    context.forecast_origin
                    - {{ period_interval(var('lifecycle_periods')) }} as date
                )
                then 'new'
            else 'active'
        end as lifecycle,
        products.discontinued_date,
        classified.n_nonzero = 0
        or classified.trailing_zero_periods
        >= {{ var('lifecycle_periods') }} as is_paused,
        classified.n_periods
        >= context.min_train_length + context.horizon
            as is_backtestable,
        classified.total_demand,
        classified.total_sales,
        classified.total_returns,
        classified.mean_demand
    from classified
    cross join context
    left join products
        on classified.product_id = products.product_id

),

final as (

    select
        series_id,
        plant_id,
        product_id,
        product_group,
        first_period,
        last_period,
        last_demand_period,
        n_periods,
        n_nonzero,
        zero_share,
        adi,
        cv2,
        demand_class,
        trailing_zero_periods,
        lifecycle,
        discontinued_date,
        is_paused and lifecycle <> 'discontinued' as is_inactive,
        is_backtestable,
        total_demand,
        total_sales,
        total_returns,
        mean_demand
    from lifecycles

)

select * from final
