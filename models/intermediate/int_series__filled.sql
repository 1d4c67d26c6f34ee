{#- One row per series and period, from the series' first period with
    demand to the forecast origin; periods without orders are zeros.
    plausible_max: var('outlier_ratio') x the median of the series' positive
    periods (5 or more of them), the bound the series gate holds demand to. -#}

with

aggregated as (

    select * from {{ ref('int_orders__aggregated') }}

),

context as (

    select * from {{ ref('int_run__context') }}

),

series as (

    select
        series_id,
        plant_id,
        product_id,
        min(period_start) as first_period,
        case
            when count(*) filter (where demand > 0) >= 5
                then
                    {{ var('outlier_ratio') }}
                    * median(demand) filter (where demand > 0)
        end as plausible_max
    from aggregated
    group by all

),

spine as (

    select
        series.series_id,
        series.plant_id,
        series.product_id,
        series.plausible_max,
        cast(
            unnest(generate_series(
                series.first_period,
                context.forecast_origin,
                {{ period_interval() }}
            )) as date
        ) as period_start
    from series
    cross join context
    where series.first_period is not null

),

final as (

    select
        spine.series_id,
        spine.plant_id,
        spine.product_id,
        spine.period_start,
        cast(
            row_number() over (
                partition by spine.series_id order by spine.period_start
            ) - 1 as integer
        ) as period_index,
        coalesce(aggregated.demand, 0) as demand,
        coalesce(aggregated.sales_quantity, 0) as sales_quantity,
        coalesce(aggregated.return_quantity, 0) as return_quantity,
        cast(coalesce(aggregated.n_lines, 0) as integer) as n_lines,
        aggregated.series_id is null as is_filled,
        spine.plausible_max
    from spine
    left join aggregated
        on
            spine.series_id = aggregated.series_id
            and spine.period_start = aggregated.period_start

)

select * from final
