-- Every level of fct_demand_forecast_levels sums to its 'total' in every
-- period, and its base level is fct_demand_forecast's statistical forecast
-- (planners' overrides aside; planned launches included): a row per period
-- and level that does not add up (relative tolerance 1e-9).
with

levels as (

    select * from {{ ref('fct_demand_forecast_levels') }}

),

base as (
    -- the same run only: a partial selection may rebuild one and not the other

    select * from {{ ref('fct_demand_forecast') }}
    where run_id in (select levels.run_id from levels)

),

totals as (

    select
        period_start,
        sum(forecast) filter (where level = 'total') as total_forecast
    from levels
    group by all

),

sums as (

    select
        level as summed_level,
        period_start,
        sum(forecast) as forecast
    from levels
    group by all

    union all

    select
        'fct_demand_forecast' as summed_level,
        period_start,
        -- the statistical forecast: a planner's override is not reconciled
        sum(statistical_forecast) as forecast
    from base
    group by all

)

select
    sums.summed_level,
    sums.period_start,
    sums.forecast,
    totals.total_forecast
from sums
full outer join totals
    on sums.period_start = totals.period_start
where
    totals.total_forecast is null
    or sums.forecast is null
    or abs(sums.forecast - totals.total_forecast)
    > 1e-9 * greatest(1, abs(totals.total_forecast))
