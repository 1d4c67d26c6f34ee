{#- One row per series that must be forecast (not discontinued): its steps
    counted, its largest forecast against its robust history (suite
    forecast__series). plausible_max = var max_forecast_multiple x the 90th
    percentile of the series' positive demand + 1, which one absurd period
    does not raise as it raises the maximum; null (not judged) for a cold
    start, which takes its level from the product group by design. -#}

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
        case
            when not coalesce(steps.is_cold_start, false)
                then
                    {{ var('max_forecast_multiple') }} * history.history_p90 + 1
        end as plausible_max
    from expected
    left join steps on expected.series_id = steps.series_id
    left join history on expected.series_id = history.series_id

)

select * from final
