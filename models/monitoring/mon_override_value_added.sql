{#- The forecast value added of planners' overrides of quantities, once the
    actuals have arrived: per frequency, author (set_by) and reason, the
    statistical forecast's MAE against the final forecast's over the
    overridden periods that have an actual. An override a later run reused
    with its forecast counts once. value_added > 0: the overrides made the
    forecast better. -#}

with

history as (

    select * from {{ ref('fct_forecast_history') }}
    where override_quantity is not null

),

actuals as (

    select * from {{ ref('fct_demand_history') }}

),

overridden as (

    -- each override of a forecast once, however many runs carried it
    select distinct
        history.forecast_run_id,
        history.series_id,
        history.period_start,
        history.frequency,
        history.override_set_by,
        history.override_reason,
        history.statistical_forecast,
        history.forecast,
        actuals.demand
    from history
    inner join actuals
        on
            history.series_id = actuals.series_id
            and history.period_start = actuals.period_start
            and history.frequency = actuals.frequency

),

final as (

    select
        -- keys
        frequency,
        override_set_by,
        override_reason,

        -- what was overridden
        count(*) as n_periods,
        count(distinct series_id) as n_series,
        sum(demand) as demand_total,
        sum(statistical_forecast) as statistical_forecast_total,
        sum(forecast) as forecast_total,

        -- the value added
        avg(abs(statistical_forecast - demand)) as statistical_mae,
        avg(abs(forecast - demand)) as final_mae,
        avg(abs(statistical_forecast - demand))
        - avg(abs(forecast - demand)) as value_added,
        (
            avg(abs(statistical_forecast - demand))
            - avg(abs(forecast - demand))
        )
        / nullif(avg(abs(statistical_forecast - demand)), 0)
            as value_added_share
    from overridden
    group by all

)

select * from final
