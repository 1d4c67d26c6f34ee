{#- Series a planner should look at, and why: no champion's forecast
    (discontinued: no forecast; a cold start; a fallback after a failed
    refit), a forecast despite a pause (inactive: no demand in the last
    lifecycle_periods periods, not discontinued by the product master), or a
    candidate that failed in the backtest. -#}
-- depends_on: {{ ref('gate_forecast') }}

with

series as (

    select * from {{ ref('int_series__profiled') }}

),

predictions as (

    select * from {{ ref('int_forecast__predictions') }}

),

metrics as (

    select * from {{ ref('int_forecast__backtest') }}

),

context as (

    select * from {{ ref('int_run__context') }}

),

discontinued as (

    select
        series_id,
        cast(null as varchar) as model_name,
        'discontinued' as exception_type,
        'no forecast: the product is discontinued' as detail
    from series
    where lifecycle = 'discontinued'

),

forecast_models as (

    select
        series_id,
        min(model_name) as model_name
    from predictions
    group by all

),

inactive as (

    select
        series.series_id,
        forecast_models.model_name,
        'inactive' as exception_type,
        case
            when series.last_demand_period is null
                then
                    'forecast as usual: no demand in its '
                    || series.n_periods
                    || ' periods of history'
            else
                'forecast as usual: no demand in the last '
                || series.trailing_zero_periods
                || ' periods (the last in the period starting '
                || cast(series.last_demand_period as varchar)
                || ')'
        end
        || '; the product master does not discontinue it' as detail
    from series
    left join forecast_models
        on series.series_id = forecast_models.series_id
    where series.is_inactive

),

not_champion as (

    select distinct
        series_id,
        model_name,
        method as exception_type,
        fallback_reason as detail
    from predictions
    where method != 'champion'

),

failed_candidates as (

    select
        series_id,
        model_name,
        'candidate_failed' as exception_type,
        error_message as detail
    from metrics
    where status = 'failed'

),

unioned as (

    select * from discontinued
    union all
    select * from inactive
    union all
    select * from not_champion
    union all
    select * from failed_candidates

),

final as (

    select
        unioned.series_id,
        series.plant_id,
        series.product_id,
        unioned.exception_type,
        unioned.model_name,
        unioned.detail,
        series.lifecycle,
        series.demand_class,
        context.run_id,
        context.forecast_origin
    from unioned
    inner join series
        on unioned.series_id = series.series_id
    cross join context

)

select * from final
