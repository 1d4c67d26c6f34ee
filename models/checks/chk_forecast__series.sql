{#- One row per series that must be forecast (not discontinued): its steps
    counted, its largest forecast against its robust history (suite
    forecast__series). plausible_max = var max_forecast_multiple x the larger
    of the 90th percentile of the series' positive demand and the median of
    its last var horizon periods, + 1: one absurd period raises neither (as it
    raises the maximum), while a level that has lasted half a horizon (a new
    customer) raises the median; null (not judged) for a cold start, which
    takes its level from the product group by design. -#}

with

predictions as (

    select * from {{ ref('int_forecast__predictions') }}

),

profiled as (

    select * from {{ ref('int_series__profiled') }}

),

filled as (

    select * from {{ ref('int_series__filled') }}

),

expected as (

    select series_id
    from profiled
    where lifecycle <> 'discontinued'
    union
    select series_id from predictions

),

history as (

    select
        series_id,
        coalesce(
            quantile_cont(demand, 0.9) filter (where demand > 0), 0
        ) as history_p90
    from filled
    group by all

),

latest as (

    select
        series_id,
        demand,
        row_number() over (
            partition by series_id order by period_start desc
        ) as periods_back
    from filled

),

recent as (

    select
        series_id,
        median(demand) as recent_median
    from latest
    where periods_back <= {{ var('horizon') }}
    group by all

),

steps as (

    select
        series_id,
        count(*) as n_steps,
        max(forecast) as forecast_max,
        bool_and(method = 'cold_start') as is_cold_start
    from predictions
    group by all

),

final as (

    select
        expected.series_id,
        coalesce(steps.n_steps, 0) as n_steps,
        steps.forecast_max,
        history.history_p90,
        recent.recent_median,
        case
            when not coalesce(steps.is_cold_start, false)
                then
                    {{ var('max_forecast_multiple') }}
                    * greatest(history.history_p90, recent.recent_median)
                    + 1
        end as plausible_max
    from expected
    left join steps on expected.series_id = steps.series_id
    left join history on expected.series_id = history.series_id
    left join recent on expected.series_id = recent.series_id

)

select * from final
