-- Warns when the warehouse holds forecasts this build cannot score: of
-- another frequency than its own (a weekly and a monthly build sharing a
-- warehouse), or of none (older rows it could not be told for). They are
-- left out of mon_forecast_accuracy, never matched to these actuals; a build
-- of their frequency scores them. One row per frequency held.
{{ config(severity='warn') }}

with

history as (

    select * from {{ ref('fct_forecast_history') }}

),

context as (

    select * from {{ ref('int_run__context') }}

),

held as (

    select
        frequency,
        count(distinct run_id) as n_runs,
        count(*) as n_forecasts,
        min(period_start) as first_period,
        max(period_start) as last_period
    from history
    group by all

)

select
    held.*,
    context.frequency as build_frequency
from held
cross join context
where held.frequency is distinct from context.frequency
