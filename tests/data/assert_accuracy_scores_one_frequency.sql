-- Every scored forecast meets an actual of its own frequency: the forecast's
-- run, the actual's build and the accuracy row agree on it, and the period
-- starts a period of it (a monthly forecast scored against the week that
-- starts on the first of a month fails here).
with

accuracy as (

    select * from {{ ref('mon_forecast_accuracy') }}

),

history as (

    select * from {{ ref('fct_forecast_history') }}

),

actuals as (

    select * from {{ ref('fct_demand_history') }}

),

compared as (

    select
        accuracy.run_id,
        accuracy.series_id,
        accuracy.period_start,
        accuracy.frequency,
        history.frequency as forecast_frequency,
        actuals.frequency as actual_frequency,
        case accuracy.frequency
            when 'day' then accuracy.period_start
            when 'week'
                then cast(date_trunc('week', accuracy.period_start) as date)
            when 'month'
                then cast(date_trunc('month', accuracy.period_start) as date)
        end as frequency_period_start
    from accuracy
    left join history
        on
            accuracy.run_id = history.run_id
            and accuracy.series_id = history.series_id
            and accuracy.period_start = history.period_start
    left join actuals
        on
            accuracy.series_id = actuals.series_id
            and accuracy.period_start = actuals.period_start

)

select *
from compared
where
    forecast_frequency is distinct from frequency
    or actual_frequency is distinct from frequency
    or frequency_period_start is distinct from period_start
